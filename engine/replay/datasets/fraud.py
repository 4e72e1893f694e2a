"""The fraud handbook as an event log: payments, and their labels a label delay later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.fraud.handbook import LABEL_DELAY, read_handbook
from engine.replay.datasets.log_writing import PendingRecord, epoch_ms, file_sha256, write_log
from schemas import FraudLabel, Transaction


@dataclass(frozen=True)
class FraudLogSummary:
    """What fraud_log wrote."""

    transactions: int
    labels: int
    frauds: int
    header: dict[str, Any]


def fraud_log(handbook_csv: Path, out: Path, *, first_day: int = 0, last_day: int | None = None,
              label_delay_days: float = LABEL_DELAY / timedelta(days=1),
              topics: tuple[str, str] = ("transactions", "fraud-labels")) -> FraudLogSummary:
    """Write handbook rows of days [first_day, last_day] as transactions, and their labels delay days later."""
    rows = [r for r in read_handbook(handbook_csv)
            if r.day >= first_day and (last_day is None or r.day <= last_day)]
    delay = timedelta(days=label_delay_days)
    tx_topic, label_topic = topics
    labels: list[PendingRecord] = []
    txs: list[PendingRecord] = []
    for r in rows:
        tx = Transaction(transaction_id=r.tx.transaction_id, occurred_at=r.tx.occurred_at,
                         customer_id=r.tx.customer_id, terminal_id=r.tx.terminal_id, amount=r.tx.amount,
                         currency="EUR", channel="unknown")
        label = FraudLabel(transaction_id=r.tx.transaction_id, customer_id=r.tx.customer_id,
                           terminal_id=r.tx.terminal_id, occurred_at=r.tx.occurred_at, fraud=r.fraud,
                           labelled_at=r.tx.occurred_at + delay, source="handbook")
        txs.append(PendingRecord(epoch_ms(tx.occurred_at), tx_topic, r.tx.customer_id, tx))
        labels.append(PendingRecord(epoch_ms(label.labelled_at), label_topic, r.tx.customer_id, label))
    frauds = sum(1 for r in rows if r.fraud)
    header = {
        "source": {"kind": "fraud-handbook", "file": handbook_csv.name, "sha256": file_sha256(handbook_csv)},
        "rules": {
            "days": f"Rows with TX_TIME_DAYS in [{first_day}, {'end' if last_day is None else last_day}].",
            "transactions": "Each row is a Transaction at TX_DATETIME (UTC), keyed by customer id, EUR, "
                            "channel unknown, no merchant name.",
            "labels": f"Each row's TX_FRAUD is a FraudLabel (source handbook) at transaction time + "
                      f"{label_delay_days} days, merged by time; labels past the last transaction are still "
                      "written; at equal times a label comes before a transaction.",
        },
        "counts": {"transactions": len(txs), "labels": len(labels), "frauds": frauds},
    }
    # Labels created first so that, at equal times, they precede transactions (as replay_features applies them).
    full = write_log(out, header, labels + txs, topics)
    return FraudLogSummary(len(txs), len(labels), frauds, full)
