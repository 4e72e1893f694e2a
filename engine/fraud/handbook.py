"""The fraud handbook's simulated transactions, replayed through FeatureBuilder with late labels."""

from __future__ import annotations

import csv
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.fraud.features import FeatureBatch, FeatureBuilder, TxView

# Confirmed labels reach the engine a week after the transaction, as in the handbook.
LABEL_DELAY = timedelta(days=7)
REPLAY_CHUNK = 2048  # rows whose features are derived together


@dataclass(frozen=True)
class LabelledTx:
    """A transaction with its ground truth and its day number in the data set."""

    tx: TxView
    fraud: bool
    day: int


def read_handbook(path: Path, limit: int | None = None) -> list[LabelledTx]:
    """Rows of the handbook CSV in time order (the file is sorted by time)."""
    rows: list[LabelledTx] = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            tx = TxView(
                transaction_id=row["TRANSACTION_ID"],
                occurred_at=datetime.fromisoformat(row["TX_DATETIME"]).replace(tzinfo=UTC),
                customer_id=row["CUSTOMER_ID"], terminal_id=row["TERMINAL_ID"], amount=float(row["TX_AMOUNT"]),
            )
            rows.append(LabelledTx(tx, row["TX_FRAUD"] == "1", int(row["TX_TIME_DAYS"])))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def replay_features(rows: list[LabelledTx], label_delay: timedelta = LABEL_DELAY
                    ) -> Iterator[tuple[LabelledTx, dict[str, float]]]:
    """Each row with the features a live system would have computed at its time."""
    builder = FeatureBuilder()
    pending: list[tuple[datetime, int, str, datetime, bool]] = []  # labels not yet arrived
    batch, taken = FeatureBatch(), []
    for index, row in enumerate(rows):
        while pending and pending[0][0] <= row.tx.occurred_at:
            _, _, terminal, tx_time, fraud = heapq.heappop(pending)
            builder.add_label(terminal, tx_time, fraud)
        # take() reads the state as it is now; the features are derived per chunk (as the stream does per batch).
        batch.take(row.tx, builder.customers.get(row.tx.customer_id), builder.terminals.get(row.tx.terminal_id))
        taken.append(row)
        builder.add(row.tx)
        heapq.heappush(pending, (row.tx.occurred_at + label_delay, index, row.tx.terminal_id,
                                 row.tx.occurred_at, row.fraud))
        if len(taken) == REPLAY_CHUNK:
            yield from zip(taken, batch.rows(), strict=True)
            batch, taken = FeatureBatch(), []
    yield from zip(taken, batch.rows(), strict=True)
