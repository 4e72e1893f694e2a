"""Training data from a recorded stream: an event log of `transactions` and `fraud-labels`, or a mapped CSV.

Both go through the wire format: each payment is decoded by `engine.fraud.intake.read_transaction` (what
the worker does), each label by the `FraudLabel` schema, and they are replayed in arrival order, so a
label counts in terminal risk only once it has arrived, as on the stream. A payment's training target is
its label, whenever that arrives (no label: genuine).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.fraud.features import FeatureBatch, FeatureBuilder, TxView
from engine.fraud.handbook import LABEL_DELAY, REPLAY_CHUNK, LabelledTx
from engine.fraud.intake import read_transaction
from engine.replay.event_log import EventLogReader, time_ordered
from schemas import DecodeError, FraudLabel, Transaction, decode

# What --map must name (the engine's field = the CSV's column); transaction_id is optional (row number).
CSV_FIELDS = ("customer_id", "terminal_id", "amount", "occurred_at", "fraud")
CSV_OPTIONAL = ("transaction_id",)
TRUE, FALSE = frozenset({"1", "true", "yes", "y", "t"}), frozenset({"0", "false", "no", "n", "f", ""})
_NOT_ID = re.compile(r"[^A-Za-z0-9._:\-]+")


class RecordingError(ValueError):
    """The recording or CSV cannot be trained on; the message names the column, row or record."""


@dataclass
class Replayed:
    """Rows with their stream features, and what was skipped on the way."""

    rows: list[tuple[LabelledTx, dict[str, float]]]
    rejected: int = 0  # payments or labels that failed the wire format (the stream dead-letters them)
    duplicates: int = 0  # repeated transaction ids (the stream skips them)
    unlabelled: int = 0  # payments no label arrived for (trained on as genuine)


Event = Transaction | FraudLabel | None  # None: a record that failed the wire format


def replay_stream(events: Iterable[Event], limit: int | None = None) -> Replayed:
    """Each payment with the features the worker computes at its arrival; labels applied as they arrive."""
    builder = FeatureBuilder()
    payments: list[TxView] = []
    features: list[dict[str, float]] = []
    batch = FeatureBatch()
    truth: dict[str, bool] = {}
    out = Replayed([])
    for event in events:
        if event is None:
            out.rejected += 1
        elif isinstance(event, FraudLabel):
            if event.transaction_id not in truth:  # LabelFeed counts a repeated label once
                truth[event.transaction_id] = event.fraud
                builder.add_label(event.terminal_id, event.occurred_at, event.fraud)
        else:
            view = TxView(event.transaction_id, event.occurred_at, event.customer_id, event.terminal_id, event.amount)
            history = builder.customers.get(view.customer_id)
            if history is not None and history.has(view.transaction_id):
                out.duplicates += 1
                continue
            if limit is not None and len(payments) >= limit:
                continue  # labels still arrive for the payments taken
            batch.take(view, history, builder.terminals.get(view.terminal_id))  # the state as it is now
            payments.append(view)
            builder.add(view)
            if len(batch) == REPLAY_CHUNK:
                features += batch.rows()
                batch = FeatureBatch()
    features += batch.rows()
    if payments:
        first = min(view.occurred_at for view in payments)
        day0 = first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for view, values in zip(payments, features, strict=True):
            out.unlabelled += view.transaction_id not in truth
            day = (view.occurred_at - day0) // timedelta(days=1)
            out.rows.append((LabelledTx(view, truth.get(view.transaction_id, False), day), values))
    return out


def log_events(path: Path, transactions: str, labels: str, max_future_s: float) -> Iterator[Event]:
    """The recording's payments and labels in the order every replay reads it (time_ordered)."""
    for record in time_ordered(EventLogReader(path)):
        if record.topic not in (transactions, labels):
            continue
        try:
            if record.topic == transactions:
                received = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
                yield read_transaction(record.value, record.key, received, max_future_s)
            else:
                yield decode(FraudLabel, record.value)
        except DecodeError:
            yield None


def parse_mapping(text: str) -> dict[str, str]:
    """'customer_id=cc_num,amount=amt,...' -> {field: column}; names what is missing or unknown."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        field, sep, column = part.partition("=")
        if not sep or not column.strip():
            raise RecordingError(f"--map entry {part!r} is not field=column")
        if field.strip() not in CSV_FIELDS + CSV_OPTIONAL:
            raise RecordingError(f"--map field {field.strip()!r} is unknown (fields: "
                                 f"{', '.join(CSV_FIELDS + CSV_OPTIONAL)})")
        mapping[field.strip()] = column.strip()
    missing = [f for f in CSV_FIELDS if f not in mapping]
    if missing:
        raise RecordingError(f"--map does not name a column for {', '.join(missing)}")
    return mapping


def csv_events(path: Path, mapping: dict[str, str], label_delay: timedelta = LABEL_DELAY) -> Iterator[Event]:
    """A labelled CSV of another layout as the stream would carry it: each row a payment on the wire, its label
    `label_delay` later (merged by arrival, a label first at equal times, as the handbook replay does)."""
    rows = list(_csv_rows(path, mapping))
    rows.sort(key=lambda row: row[0].occurred_at)  # the file need not be in time order; the stream is
    arrivals: list[tuple[datetime, int, Event]] = []
    for index, (tx, fraud) in enumerate(rows):
        arrivals.append((tx.occurred_at, 2 * index + 1, tx))
        arrivals.append((tx.occurred_at + label_delay, 2 * index, FraudLabel(
            transaction_id=tx.transaction_id, customer_id=tx.customer_id, terminal_id=tx.terminal_id,
            occurred_at=tx.occurred_at, fraud=fraud, labelled_at=tx.occurred_at + label_delay)))
    arrivals.sort(key=lambda arrival: (arrival[0], arrival[1]))
    for _, _, event in arrivals:
        yield event


def _csv_rows(path: Path, mapping: dict[str, str]) -> Iterator[tuple[Transaction, bool]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        absent = [column for column in mapping.values() if column not in columns]
        if absent:
            raise RecordingError(f"{path.name}: no column {', '.join(map(repr, absent))} "
                                 f"(columns: {', '.join(columns)})")
        for number, row in enumerate(reader, start=2):  # line 1 is the header
            yield _csv_row(path, number, row, mapping)


def _csv_row(path: Path, number: int, row: dict[str, str], mapping: dict[str, str]) -> tuple[Transaction, bool]:
    def value(field: str) -> str:
        return (row.get(mapping[field]) or "").strip()

    def bad(field: str, why: str) -> RecordingError:
        return RecordingError(f"{path.name} row {number}: column {mapping[field]!r} ({field}) "
                              f"value {value(field)!r} {why}")

    try:
        at = datetime.fromisoformat(value("occurred_at"))
    except ValueError:
        raise bad("occurred_at", "is not a date and time (ISO 8601)") from None
    try:
        amount = float(value("amount"))
    except ValueError:
        raise bad("amount", "is not a number") from None
    flag = value("fraud").lower()
    if flag not in TRUE | FALSE:
        raise bad("fraud", "is not 0/1 or true/false")
    for field in ("customer_id", "terminal_id", "transaction_id"):
        if field in mapping and not value(field):
            raise bad(field, "is empty")
    tx_id = value("transaction_id") if "transaction_id" in mapping else f"row{number}"
    at = at if at.tzinfo else at.replace(tzinfo=UTC)  # a date without a zone is taken as UTC
    customer = _identifier(value("customer_id"))
    try:
        wire = Transaction(transaction_id=_identifier(tx_id), occurred_at=at, customer_id=customer,
                           terminal_id=_identifier(value("terminal_id")), amount=amount).to_bytes()
        tx = read_transaction(wire, customer.encode(), at, 0.0)
    except (DecodeError, ValueError) as error:
        field = next((f for f in mapping if f in str(error)), "amount")
        raise bad(field, f"is refused by the Transaction schema: {str(error).splitlines()[-1].strip()}") from None
    return tx, flag in TRUE


def _identifier(raw: str) -> str:
    """raw if it is a wire identifier, else a stable one made from it (merchant names have spaces and commas)."""
    cleaned = _NOT_ID.sub("-", raw).strip("-.:")
    if cleaned != raw or len(cleaned) > 128:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:10]
        cleaned = f"{cleaned[:100] or 'id'}-{digest}"
    return cleaned
