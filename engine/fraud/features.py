"""FeatureBuilder: windowed fraud features on event time — one code path for training and for the stream."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
CUSTOMER_WINDOWS = {"1h": HOUR, "1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
TERMINAL_WINDOWS = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
TERMINAL_MEMORY = 30 * DAY

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
class _Customer:
    history: deque[tuple[datetime, float]] = field(default_factory=deque)  # last 30 days, time-ordered
    terminals: dict[str, datetime] = field(default_factory=dict)  # terminal -> last use


@dataclass
class _Terminal:
    labels: deque[tuple[datetime, bool]] = field(default_factory=deque)  # (tx time, fraud) of labelled txs


class FeatureBuilder:
    """Keeps per-customer and per-terminal state; features(tx) reads it, add(tx) and add_label() update it.

    Terminal risk uses only labels that have arrived (labels come days late), counted by the time of the
    labelled transaction, so training and scoring see exactly what a live system would have seen.
    """

    def __init__(self) -> None:
        self._customers: dict[str, _Customer] = {}
        self._terminals: dict[str, _Terminal] = {}

    def features(self, tx: TxView) -> dict[str, float]:
        """The feature vector of tx from the history before it (tx itself is not counted)."""
        customer = self._customers.get(tx.customer_id) or _Customer()
        values: dict[str, float] = {"amount": tx.amount}
        for name, window in CUSTOMER_WINDOWS.items():
            recent = [amount for at, amount in customer.history if tx.occurred_at - at <= window]
            values[f"customer_count_{name}"] = float(len(recent))
            values[f"customer_amount_{name}"] = round(sum(recent), 2)
        count_30d = values["customer_count_30d"]
        mean_30d = values["customer_amount_30d"] / count_30d if count_30d else 0.0
        values["amount_vs_customer_mean_30d"] = round(tx.amount / mean_30d, 4) if mean_30d else 1.0
        previous = customer.history[-1][0] if customer.history else None
        values["seconds_since_previous"] = (tx.occurred_at - previous).total_seconds() if previous else -1.0
        values["terminal_new_for_customer"] = float(tx.terminal_id not in customer.terminals)
        terminal = self._terminals.get(tx.terminal_id) or _Terminal()
        for name, window in TERMINAL_WINDOWS.items():
            labelled = [fraud for at, fraud in terminal.labels if tx.occurred_at - at <= window]
            values[f"terminal_labelled_{name}"] = float(len(labelled))
            values[f"terminal_risk_{name}"] = round(sum(labelled) / len(labelled), 4) if labelled else 0.0
        values["hour_of_day"] = float(tx.occurred_at.hour)
        values["is_weekend"] = float(tx.occurred_at.weekday() >= 5)
        return values

    def add(self, tx: TxView) -> None:
        """Take tx into the history (call after features(tx), in event-time order per customer)."""
        customer = self._customers.setdefault(tx.customer_id, _Customer())
        customer.history.append((tx.occurred_at, tx.amount))
        while customer.history and tx.occurred_at - customer.history[0][0] > CUSTOMER_WINDOWS["30d"]:
            customer.history.popleft()
        customer.terminals[tx.terminal_id] = tx.occurred_at

    def add_label(self, terminal_id: str, tx_time: datetime, fraud: bool) -> None:
        """A confirmed label arrived for a past transaction at terminal_id."""
        terminal = self._terminals.setdefault(terminal_id, _Terminal())
        terminal.labels.append((tx_time, fraud))
        newest = max(at for at, _ in terminal.labels)
        while terminal.labels and newest - terminal.labels[0][0] > TERMINAL_MEMORY:
            terminal.labels.popleft()


def vector(values: dict[str, float]) -> list[float]:
    """Features in FEATURE_NAMES order (what the model is trained on)."""
    return [values[name] if math.isfinite(values[name]) else 0.0 for name in FEATURE_NAMES]
