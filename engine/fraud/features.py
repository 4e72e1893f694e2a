"""Windowed fraud features on event time — one code path for training and for the stream.

State lives in two kinds of small objects: a `CustomerHistory` per customer (the stream keeps it in memory,
persisted as append-only chunks, see history_log.py) and `TerminalLabels` per terminal (fed by the late
`fraud-labels` stream). `FeatureBatch` reads both for a whole batch (`compute_features` is a batch of one);
`FeatureBuilder` holds them in dicts for offline replays. Windows slide exactly on event time rather than
in fixed buckets.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
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


class TxView(NamedTuple):
    """What the features need of a transaction (schemas.Transaction and CSV rows both provide it); a tuple,
    as it is built once a payment on the stream."""

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
    # Running sums of the amounts in cents (exact integers, so any base will do): a window's spend is the
    # difference of two entries, O(1) whatever the history's length. Built on first use.
    _cents: list[int] | None = field(default=None, repr=False, compare=False)
    # The payments' times alone: bisect on floats runs in C, with a key it calls Python for every probe.
    _times: list[float] | None = field(default=None, repr=False, compare=False)

    def times(self) -> list[float]:
        """The epoch seconds of payments, in the same order."""
        if self._times is None:
            self._times = [at for at, _, _ in self.payments]
        return self._times

    def cents_prefix(self) -> list[int]:
        """cents_prefix()[j] - cents_prefix()[i]: the amounts of payments[i:j] in cents."""
        if self._cents is None:
            self._cents = [0, *itertools.accumulate(cents(amount) for _, amount, _ in self.payments)]
        return self._cents

    def has(self, transaction_id: str) -> bool:
        """Whether this transaction id was already taken (within the 30 days kept)."""
        if self._ids is None:
            self._ids = {tx_id for _, _, tx_id in self.payments}
        return transaction_id in self._ids

    def add(self, tx: TxView) -> None:
        """Take tx into the history; a late payment is inserted at its event time."""
        self.add_payment(tx.occurred_at.timestamp(), tx.amount, tx.transaction_id, tx.terminal_id)

    def add_payment(self, at: float, amount: float, transaction_id: str, terminal_id: str) -> None:
        """add() on the stored fields (epoch seconds): what a replay of the changelog calls."""
        entry = (at, amount, transaction_id)
        place = bisect.bisect_right(self.payments, entry)
        self.payments.insert(place, entry)
        if self._times is not None:
            self._times.insert(place, at)
        if self._cents is not None:
            added = cents(amount)
            self._cents.insert(place + 1, self._cents[place] + added)
            for later in range(place + 2, len(self._cents)):  # a late payment: only the few after it move
                self._cents[later] += added
        newest = self.payments[-1][0]
        horizon = newest - CUSTOMER_WINDOWS["30d"].total_seconds()
        if self.payments[0][0] < horizon:
            expired = bisect.bisect_left(self.payments, (horizon,))
            del self.payments[:expired]
            if self._times is not None:
                del self._times[:expired]
            if self._cents is not None:
                del self._cents[:expired]
            self._ids = None
        elif self._ids is not None:
            self._ids.add(transaction_id)
        self.terminals[terminal_id] = max(at, self.terminals.get(terminal_id, at))
        forget = newest - TERMINAL_FORGET.total_seconds()
        if len(self.terminals) > 64:
            self.terminals = {t: last for t, last in self.terminals.items() if last >= forget}

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data (from_snapshot reads it back exactly)."""
        return {"p": self.payments, "t": self.terminals}

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> CustomerHistory:
        return cls(payments=[(p[0], p[1], p[2]) for p in data["p"]], terminals=dict(data["t"]))

    def to_bytes(self) -> bytes:
        return to_json(self.snapshot())

    @classmethod
    def from_bytes(cls, raw: bytes) -> CustomerHistory:
        return cls.from_snapshot(from_json(raw))


@dataclass
class TerminalLabels:
    """Confirmed labels of a terminal's past payments, by the time of the labelled payment."""

    labels: list[tuple[float, bool]] = field(default_factory=list)  # (epoch s of the payment, fraud), sorted
    _frauds: list[int] | None = field(default=None, repr=False, compare=False)  # running fraud counts
    _times: list[float] | None = field(default=None, repr=False, compare=False)  # labels' times, for C bisects

    def add(self, tx_time: datetime, fraud: bool) -> None:
        entry = (tx_time.timestamp(), fraud)
        place = bisect.bisect_right(self.labels, entry)
        self.labels.insert(place, entry)
        if self._times is not None:
            self._times.insert(place, entry[0])
        if self._frauds is not None:
            self._frauds.insert(place + 1, self._frauds[place] + fraud)
            for later in range(place + 2, len(self._frauds)):  # a label out of order: only those after it move
                self._frauds[later] += fraud
        horizon = self.labels[-1][0] - TERMINAL_MEMORY.total_seconds()
        if self.labels[0][0] < horizon:
            expired = bisect.bisect_left(self.labels, (horizon,))
            del self.labels[:expired]
            if self._times is not None:
                del self._times[:expired]
            if self._frauds is not None:
                del self._frauds[:expired]

    def counts(self, now: float, seconds: float) -> tuple[int, int]:
        """(number labelled, number fraud) among labelled payments in [now - seconds, now], O(log n)."""
        labelled, frauds = self.window_counts(now, (seconds,))
        return labelled, frauds

    def window_counts(self, now: float, windows: tuple[float, ...]) -> list[int]:
        """counts(now, seconds) of each window, flattened: [labelled, fraud, labelled, fraud, ...]."""
        if self._frauds is None:
            self._frauds = [0, *itertools.accumulate(int(fraud) for _, fraud in self.labels)]
        if self._times is None:
            self._times = [at for at, _ in self.labels]
        return window_sums(self._times, self._frauds, bisect.bisect_right(self._times, now), now, windows)

    def risk(self, at: datetime, window: timedelta) -> tuple[float, int]:
        """(share of fraud, number labelled) among labelled payments within `window` before `at`."""
        labelled, frauds = self.counts(at.timestamp(), window.total_seconds())
        return (round(frauds / labelled, 4) if labelled else 0.0), labelled  # _rate of one, without arrays


CUSTOMER_SECONDS = tuple(window.total_seconds() for window in CUSTOMER_WINDOWS.values())  # shortest first
TERMINAL_FORGET_S = TERMINAL_FORGET.total_seconds()
TERMINAL_SECONDS = tuple(window.total_seconds() for window in TERMINAL_WINDOWS.values())


def window_sums(times: list[float], prefix: list[int], end: int, now: float, windows: tuple[float, ...]) -> list[int]:
    """[count, sum, count, sum, ...] of the entries in [now - seconds, now] for each window: `times` sorted,
    `prefix` their running sums (prefix[j] - prefix[i] sums entries i..j-1), `end` = bisect_right(times, now)."""
    found = []
    for seconds in windows:
        start = bisect.bisect_left(times, now - seconds, 0, end)
        found += [end - start, prefix[end] - prefix[start]]
    return found


class FeatureBatch:
    """The features of a batch of payments: take() reads each payment's history as it stands when that payment
    arrives (bisections and running sums: O(log n) whatever the history's length), matrix() derives every
    feature of the whole batch at once with array operations. compute_features is a batch of one, so the
    stream (whole batches) and training (one payment at a time) run the same code."""

    def __init__(self) -> None:
        self._raw: list[list[float]] = []

    def __len__(self) -> int:
        return len(self._raw)

    def take(self, tx: TxView, customer: CustomerHistory | None, terminal: TerminalLabels | None) -> None:
        """Read what tx's features need from the history before it (tx itself and later payments not counted)."""
        now = tx.occurred_at.timestamp()
        row = [tx.amount, now, math.nan, math.nan]  # amount, time, previous payment's time, terminal's last use
        if customer is not None and customer.payments:
            times, prefix = customer.times(), customer.cents_prefix()
            # Payments are time-ordered: each window is a suffix of those up to now, found by bisection.
            end = bisect.bisect_right(times, now)
            if end:
                row[2] = times[end - 1]
            row += window_sums(times, prefix, end, now, CUSTOMER_SECONDS)
            row[3] = customer.terminals.get(tx.terminal_id, math.nan)
        else:
            row += [0.0, 0.0] * len(CUSTOMER_SECONDS)
        row += terminal.window_counts(now, TERMINAL_SECONDS) if terminal is not None else [0, 0] * len(TERMINAL_SECONDS)
        self._raw.append(row)

    def matrix(self) -> npt.NDArray[np.float64]:
        """(payments, features) in FEATURE_NAMES order."""
        raw = np.array(self._raw, dtype=np.float64).reshape(len(self._raw), 4 + 2 * len(CUSTOMER_SECONDS)
                                                             + 2 * len(TERMINAL_SECONDS))
        amount, now, previous, used = raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3]
        windows = raw[:, 4:4 + 2 * len(CUSTOMER_SECONDS)]
        counts, spent = windows[:, 0::2], windows[:, 1::2] / 100  # cents -> amount, exactly rounded
        terminal = raw[:, 4 + 2 * len(CUSTOMER_SECONDS):]
        labelled, frauds = terminal[:, 0::2], terminal[:, 1::2]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_30d = np.where(counts[:, -1] > 0, spent[:, -1] / counts[:, -1], 0.0)
            versus_mean = np.where(mean_30d != 0, _round4(amount / mean_30d), 1.0)
        day_seconds = np.mod(now, 86_400.0)
        columns = [
            amount[:, None], counts, spent, versus_mean[:, None],
            np.where(np.isnan(previous), -1.0, now - previous)[:, None],
            (np.isnan(used) | (now - used > TERMINAL_FORGET_S)).astype(np.float64)[:, None],
            _rate(frauds, labelled), labelled,
            np.floor(day_seconds / 3600)[:, None],
            ((np.floor(now / 86_400.0) + 3) % 7 >= 5).astype(np.float64)[:, None],  # 1970-01-01 was a Thursday
        ]
        return np.hstack(columns)

    def rows(self, matrix: npt.NDArray[np.float64] | None = None) -> list[dict[str, float]]:
        """The batch's feature dicts (what FraudScore.features carries), from matrix() if given."""
        values = self.matrix() if matrix is None else matrix
        return [dict(zip(FEATURE_NAMES, row, strict=True)) for row in values.tolist()]


def _rate(frauds: npt.NDArray[np.float64], labelled: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(labelled > 0, _round4(frauds / labelled), 0.0)


def _round4(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Python's round is correctly rounded (0.93125 -> 0.9313); numpy's scales first and rounds halves to even
    # (-> 0.9312). The model was trained on the former; it costs ~0.1 µs a value.
    return np.array([round(v, 4) for v in values.ravel().tolist()], dtype=np.float64).reshape(values.shape)


def cents(amount: float) -> int:
    """An amount in whole cents (windowed spend is summed in cents: exact, in any order)."""
    return round(amount * 100)


def compute_features(tx: TxView, customer: CustomerHistory | None, terminal: TerminalLabels | None
                     ) -> dict[str, float]:
    """The feature vector of tx from the history before it (tx itself and later payments are not counted)."""
    batch = FeatureBatch()
    batch.take(tx, customer, terminal)
    return batch.rows()[0]


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
