"""Windowed fraud features on event time — one code path for training and for the stream.

State lives in two kinds of small objects: a `CustomerHistory` per customer (the stream keeps it in a
changelog-backed Faust table, keyed like the `transactions` topic) and `TerminalLabels` per terminal
(fed by the late `fraud-labels` stream). `compute_features` reads both; `FeatureBuilder` holds them in
dicts for offline replays. Windows slide exactly on event time rather than in fixed buckets.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic_core import from_json, to_json

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
CUSTOMER_WINDOWS = {"1h": HOUR, "1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
TERMINAL_WINDOWS = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
TERMINAL_MEMORY = 30 * DAY
# A terminal unused for this long counts as new again (bounds the per-customer state).
TERMINAL_FORGET = 365 * DAY

FEATURE_NAMES: tuple[str, ...] = (
    "amount",
    *(f"customer_count_{w}" for w in CUSTOMER_WINDOWS),
    *(f"customer_amount_{w}" for w in CUSTOMER_WINDOWS),
    "amount_vs_customer_mean_30d",
    "seconds_since_previous",
    "terminal_new_for_customer",
    *(f"terminal_risk_{w}" for w in TERMINAL_WINDOWS),
    *(f"terminal_labelled_{w}" for w in TERMINAL_WINDOWS),
    "hour_of_day",
    "is_weekend",
)


@dataclass(frozen=True)
class TxView:
    """What the features need of a transaction (schemas.Transaction and CSV rows both provide it)."""

    transaction_id: str
    occurred_at: datetime
    customer_id: str
    terminal_id: str
    amount: float


@dataclass
class CustomerHistory:
    """One customer's payments of the last 30 days (time-ordered) and the terminals they used."""

    payments: list[tuple[float, float, str]] = field(default_factory=list)  # (epoch s, amount, transaction id)
    terminals: dict[str, float] = field(default_factory=dict)  # terminal -> epoch s of last use
    _ids: set[str] | None = field(default=None, repr=False, compare=False)  # built on first has()

    def has(self, transaction_id: str) -> bool:
        """Whether this transaction id was already taken (within the 30 days kept)."""
        if self._ids is None:
            self._ids = {tx_id for _, _, tx_id in self.payments}
        return transaction_id in self._ids

    def add(self, tx: TxView) -> None:
        """Take tx into the history; a late payment is inserted at its event time."""
        at = tx.occurred_at.timestamp()
        bisect.insort(self.payments, (at, tx.amount, tx.transaction_id))
        newest = self.payments[-1][0]
        horizon = newest - CUSTOMER_WINDOWS["30d"].total_seconds()
        if self.payments[0][0] < horizon:
            del self.payments[: bisect.bisect_left(self.payments, (horizon,))]
            self._ids = None
        elif self._ids is not None:
            self._ids.add(tx.transaction_id)
        self.terminals[tx.terminal_id] = max(at, self.terminals.get(tx.terminal_id, at))
        forget = newest - TERMINAL_FORGET.total_seconds()
        if len(self.terminals) > 64:
            self.terminals = {t: last for t, last in self.terminals.items() if last >= forget}

    def to_bytes(self) -> bytes:
        return to_json({"p": self.payments, "t": self.terminals})

    @classmethod
    def from_bytes(cls, raw: bytes) -> CustomerHistory:
        data = from_json(raw)
        return cls(payments=[(p[0], p[1], p[2]) for p in data["p"]], terminals=data["t"])


@dataclass
class TerminalLabels:
    """Confirmed labels of a terminal's past payments, by the time of the labelled payment."""

    labels: list[tuple[float, bool]] = field(default_factory=list)  # (epoch s of the payment, fraud), sorted

    def add(self, tx_time: datetime, fraud: bool) -> None:
        bisect.insort(self.labels, (tx_time.timestamp(), fraud))
        horizon = self.labels[-1][0] - TERMINAL_MEMORY.total_seconds()
        if self.labels[0][0] < horizon:
            del self.labels[: bisect.bisect_left(self.labels, (horizon,))]

    def risk(self, at: datetime, window: timedelta) -> tuple[float, int]:
        """(share of fraud, number labelled) among labelled payments within `window` before `at`."""
        now = at.timestamp()
        start = bisect.bisect_left(self.labels, now - window.total_seconds(), key=_time)
        end = bisect.bisect_right(self.labels, now, key=_time)
        frauds = sum(fraud for _, fraud in self.labels[start:end])
        return (round(frauds / (end - start), 4) if end > start else 0.0), end - start


WINDOW_SECONDS = {name: window.total_seconds() for name, window in CUSTOMER_WINDOWS.items()}  # shortest first
TERMINAL_FORGET_S = TERMINAL_FORGET.total_seconds()


def compute_features(tx: TxView, customer: CustomerHistory | None, terminal: TerminalLabels | None
                     ) -> dict[str, float]:
    """The feature vector of tx from the history before it (tx itself and later payments are not counted)."""
    now = tx.occurred_at.timestamp()
    payments = customer.payments if customer else []
    # Payments are time-ordered: each window is a suffix of those up to now, found by bisection.
    end = bisect.bisect_right(payments, now, key=_time)
    longest = bisect.bisect_left(payments, now - WINDOW_SECONDS["30d"], 0, end, key=_time)
    amounts = [amount for _, amount, _ in payments[longest:end]]
    values: dict[str, float] = {"amount": tx.amount}
    for name, seconds in WINDOW_SECONDS.items():
        start = bisect.bisect_left(payments, now - seconds, longest, end, key=_time) - longest
        values[f"customer_count_{name}"] = float(len(amounts) - start)
        values[f"customer_amount_{name}"] = round(sum(amounts[start:]), 2)
    count_30d = values["customer_count_30d"]
    mean_30d = values["customer_amount_30d"] / count_30d if count_30d else 0.0
    values["amount_vs_customer_mean_30d"] = round(tx.amount / mean_30d, 4) if mean_30d else 1.0
    values["seconds_since_previous"] = now - payments[end - 1][0] if end else -1.0
    used = customer.terminals.get(tx.terminal_id) if customer else None
    values["terminal_new_for_customer"] = float(used is None or now - used > TERMINAL_FORGET_S)
    for name, window in TERMINAL_WINDOWS.items():
        rate, count = terminal.risk(tx.occurred_at, window) if terminal else (0.0, 0)
        values[f"terminal_labelled_{name}"] = float(count)
        values[f"terminal_risk_{name}"] = rate
    local = tx.occurred_at.astimezone(UTC)
    values["hour_of_day"] = float(local.hour)
    values["is_weekend"] = float(local.weekday() >= 5)
    return values


def _time(entry: tuple[float, float, str] | tuple[float, bool]) -> float:
    return entry[0]


class FeatureBuilder:
    """Per-customer and per-terminal state in dicts: features(tx) reads it, add(tx) and add_label() update it.

    Terminal risk uses only labels that have arrived (labels come days late), counted by the time of the
    labelled transaction, so training and scoring see exactly what a live system would have seen.
    """

    def __init__(self) -> None:
        self.customers: dict[str, CustomerHistory] = {}
        self.terminals: dict[str, TerminalLabels] = {}

    def features(self, tx: TxView) -> dict[str, float]:
        """The feature vector of tx from the history before it (tx itself is not counted)."""
        return compute_features(tx, self.customers.get(tx.customer_id), self.terminals.get(tx.terminal_id))

    def add(self, tx: TxView) -> None:
        """Take tx into its customer's history."""
        self.customers.setdefault(tx.customer_id, CustomerHistory()).add(tx)

    def add_label(self, terminal_id: str, tx_time: datetime, fraud: bool) -> None:
        """A confirmed label arrived for a past transaction at terminal_id."""
        self.terminals.setdefault(terminal_id, TerminalLabels()).add(tx_time, fraud)


def vector(values: dict[str, float]) -> list[float]:
    """Features in FEATURE_NAMES order (what the model is trained on)."""
    return [values[name] if math.isfinite(values[name]) else 0.0 for name in FEATURE_NAMES]
