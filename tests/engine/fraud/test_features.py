"""Tests of FeatureBuilder: windows on event time, late labels, and one path for training and streaming."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.fraud.features import FEATURE_NAMES, CustomerHistory, FeatureBuilder, TxView, vector
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
