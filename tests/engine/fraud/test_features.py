"""Tests of FeatureBuilder: windows on event time, late labels, and one path for training and streaming."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.fraud.features import (
    CUSTOMER_WINDOWS,
    FEATURE_NAMES,
    TERMINAL_FORGET,
    TERMINAL_WINDOWS,
    CustomerHistory,
    FeatureBatch,
    FeatureBuilder,
    TerminalLabels,
    TxView,
    compute_features,
    vector,
)
from engine.fraud.handbook import LABEL_DELAY, LabelledTx, read_handbook, replay_features

T0 = datetime(2018, 4, 1, tzinfo=UTC)
DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "fraud" / "handbook_sim_2018-04-01_to_2018-04-28.csv"


def tx(n: int, minutes: float, amount: float = 10.0, customer: str = "c1", terminal: str = "t1") -> TxView:
    return TxView(str(n), T0 + timedelta(minutes=minutes), customer, terminal, amount)


def test_windows_count_only_their_span() -> None:
    """1 h, 1 d, 7 d and 30 d counts and amounts include exactly the earlier payments inside each window."""
    builder = FeatureBuilder()
    for n, minutes in enumerate([0, 24 * 60 * 3, 24 * 60 * 9 + 30, 24 * 60 * 9 + 50]):
        builder.add(tx(n, minutes, amount=10.0 * (n + 1)))
    f = builder.features(tx(9, 24 * 60 * 9 + 55, amount=100))
    assert (f["customer_count_1h"], f["customer_count_1d"], f["customer_count_7d"], f["customer_count_30d"]) == (
        2, 2, 3, 4)
    assert f["customer_amount_1h"] == 70 and f["customer_amount_30d"] == 100
    assert f["amount_vs_customer_mean_30d"] == pytest.approx(100 / 25)
    assert f["seconds_since_previous"] == 5 * 60


def test_new_terminal_flag() -> None:
    """A terminal is new for a customer until the customer has paid there once."""
    builder = FeatureBuilder()
    assert builder.features(tx(1, 0))["terminal_new_for_customer"] == 1
    builder.add(tx(1, 0))
    assert builder.features(tx(2, 1))["terminal_new_for_customer"] == 0
    assert builder.features(tx(3, 1, terminal="t2"))["terminal_new_for_customer"] == 1


def test_terminal_risk_uses_only_arrived_labels() -> None:
    """Terminal risk changes when a late label arrives, not when the fraud happened."""
    builder = FeatureBuilder()
    builder.add(tx(1, 0))
    before = builder.features(tx(2, 60 * 24 * 2))
    builder.add_label("t1", T0, fraud=True)
    after = builder.features(tx(2, 60 * 24 * 2))
    assert before["terminal_risk_7d"] == 0 and after["terminal_risk_7d"] == 1.0
    assert after["terminal_labelled_7d"] == 1


def test_stream_and_training_give_identical_features() -> None:
    """Replaying an event log (payments and late labels interleaved by arrival) equals the training replay."""
    if not DATA.exists():
        pytest.fail(f"data missing: {DATA}")
    rows: list[LabelledTx] = read_handbook(DATA, limit=20_000)
    offline = [vector(f) for _, f in replay_features(rows)]
    # The stream: every payment, and each label as its own event a week later, ordered by arrival time.
    events: list[tuple[datetime, int, int]] = []  # (arrival, kind 0=label first at equal times, row index)
    for index, row in enumerate(rows):
        heapq.heappush(events, (row.tx.occurred_at, 1, index))
        heapq.heappush(events, (row.tx.occurred_at + LABEL_DELAY, 0, index))
    builder, online = FeatureBuilder(), []
    while events:
        _, kind, index = heapq.heappop(events)
        row = rows[index]
        if kind == 0:
            builder.add_label(row.tx.terminal_id, row.tx.occurred_at, row.fraud)
        else:
            online.append(vector(builder.features(row.tx)))
            builder.add(row.tx)
    assert online == offline
    assert len(online[0]) == len(FEATURE_NAMES)


def test_customer_history_round_trips_and_detects_repeats() -> None:
    """A history survives to_bytes/from_bytes and knows the transaction ids it holds."""
    history = CustomerHistory()
    history.add(tx(1, 0))
    history.add(tx(2, 5, terminal="t2"))
    again = CustomerHistory.from_bytes(history.to_bytes())
    assert again == history and again.has("1") and not again.has("3")


def test_late_payment_counts_only_for_later_ones() -> None:
    """A payment arriving out of order is inserted at its event time; earlier payments never see it."""
    builder = FeatureBuilder()
    builder.add(tx(1, 0))
    builder.add(tx(2, 60))
    builder.add(tx(3, 30))  # arrives last, happened in between
    assert builder.features(tx(4, 45))["customer_count_1h"] == 2
    assert builder.features(tx(5, 61))["seconds_since_previous"] == 60


def test_history_keeps_only_thirty_days() -> None:
    """Payments older than 30 days before the newest are dropped from the state."""
    history = CustomerHistory()
    history.add(tx(1, 0))
    history.add(tx(2, 60 * 24 * 31))
    assert [p[2] for p in history.payments] == ["2"]


def reference_features(tx: TxView, customer: CustomerHistory | None, terminal: TerminalLabels | None
                       ) -> dict[str, float]:
    """The features as first written: plain Python sums over each window (O(window) per payment)."""
    now = tx.occurred_at.timestamp()
    payments = [p for p in (customer.payments if customer else []) if p[0] <= now]
    values: dict[str, float] = {"amount": tx.amount}
    for name, window in CUSTOMER_WINDOWS.items():
        inside = [amount for at, amount, _ in payments if at >= now - window.total_seconds()]
        values[f"customer_count_{name}"] = float(len(inside))
        values[f"customer_amount_{name}"] = round(sum(inside), 2)
    mean = values["customer_amount_30d"] / values["customer_count_30d"] if values["customer_count_30d"] else 0.0
    values["amount_vs_customer_mean_30d"] = round(tx.amount / mean, 4) if mean else 1.0
    values["seconds_since_previous"] = now - payments[-1][0] if payments else -1.0
    used = customer.terminals.get(tx.terminal_id) if customer else None
    values["terminal_new_for_customer"] = float(used is None or now - used > TERMINAL_FORGET.total_seconds())
    for name, window in TERMINAL_WINDOWS.items():
        labels = [f for at, f in (terminal.labels if terminal else []) if now - window.total_seconds() <= at <= now]
        values[f"terminal_labelled_{name}"] = float(len(labels))
        values[f"terminal_risk_{name}"] = round(sum(labels) / len(labels), 4) if labels else 0.0
    values["hour_of_day"] = float(tx.occurred_at.astimezone(UTC).hour)
    values["is_weekend"] = float(tx.occurred_at.astimezone(UTC).weekday() >= 5)
    return values


def test_batch_features_equal_per_payment_features_on_the_handbook() -> None:
    """20,000 handbook payments in stream-sized batches (each read against its history as it arrives, features
    derived for the whole batch with array operations) equal one-at-a-time features bit for bit, and equal the
    plain-Python definition the model was first trained on."""
    rows = read_handbook(DATA, limit=20_000)
    one_by_one = [f for _, f in replay_features(rows)]
    builder, batched, reference = FeatureBuilder(), [], []
    events: list[tuple[datetime, int, int]] = []
    for index, row in enumerate(rows):
        heapq.heappush(events, (row.tx.occurred_at, 1, index))
        heapq.heappush(events, (row.tx.occurred_at + LABEL_DELAY, 0, index))
    batch = FeatureBatch()
    while events:
        _, kind, index = heapq.heappop(events)
        row = rows[index]
        if kind == 0:  # a label ends the batch: later payments must see it
            batched += batch.rows()
            batch = FeatureBatch()
            builder.add_label(row.tx.terminal_id, row.tx.occurred_at, row.fraud)
            continue
        customer, terminal = builder.customers.get(row.tx.customer_id), builder.terminals.get(row.tx.terminal_id)
        batch.take(row.tx, customer, terminal)
        reference.append(reference_features(row.tx, customer, terminal))
        builder.add(row.tx)
        if len(batch) == 500:
            batched += batch.rows()
            batch = FeatureBatch()
    batched += batch.rows()
    assert batched == one_by_one
    assert [vector(f) for f in batched] == [vector(f) for f in reference]


def test_windowed_spend_stays_exact_with_late_payments_and_expiry() -> None:
    """Running sums in cents stay exact when payments arrive out of order and old ones expire."""
    history, shown = CustomerHistory(), []
    for n, (minutes, amount) in enumerate([(0, 0.1), (60 * 24 * 20, 0.2), (30, 19.99), (60 * 24 * 31, 5.05),
                                           (60 * 24 * 25, 0.7), (60 * 24 * 40, 1.01)]):
        probe = tx(100 + n, minutes + 1, amount=3.0)
        shown.append((compute_features(probe, history, None), reference_features(probe, history, None)))
        history.add(tx(n, minutes, amount=amount))
    assert all(got == want for got, want in shown), shown


def test_time_indexes_follow_late_inserts_and_expiry() -> None:
    """The C-bisected time lists of a customer and a terminal stay equal to their entries' times, in order."""
    history, terminal = CustomerHistory(), TerminalLabels()
    # Out of order, ties, and gaps past the 30-day memory; each index is built first, then kept in step.
    for n, minutes in enumerate([0, 50, 20, 20, 60 * 24 * 31, 10, 60 * 24 * 31 - 5, 60 * 24 * 62, 60 * 24 * 40]):
        history.add(tx(n, minutes, amount=1.0 + n))
        terminal.add(T0 + timedelta(minutes=minutes), n % 3 == 0)
        now = (T0 + timedelta(minutes=minutes)).timestamp()
        assert history.times() == [at for at, _, _ in history.payments]
        counted = terminal.window_counts(now, (3600.0, 86_400.0, 30 * 86_400.0))
        brute = []
        for seconds in (3600.0, 86_400.0, 30 * 86_400.0):
            inside = [fraud for at, fraud in terminal.labels if now - seconds <= at <= now]
            brute += [len(inside), sum(inside)]
        assert counted == brute, (n, counted, brute)
        assert terminal._times == [at for at, _ in terminal.labels]
