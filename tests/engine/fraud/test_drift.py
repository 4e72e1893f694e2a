"""Tests of DriftMonitor and the PSI it is built on."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from engine.fraud.drift import DriftMonitor, population_stability, reference_distribution, shares

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def monitor(reference_scores: list[float], window: int = 200) -> DriftMonitor:
    return DriftMonitor(reference_distribution(reference_scores), model_version="v1", window=window, max_psi=0.25,
                        min_precision=0.3, min_labelled_alerts=10)


def test_reference_bins_hold_equal_shares() -> None:
    """Quantile edges split the reference scores into ten bins of about a tenth each."""
    scores = [i / 1000 for i in range(1000)]
    reference = reference_distribution(scores)
    assert len(reference["edges"]) == 9 and reference["shares"] == pytest.approx([0.1] * 10)
    assert shares(scores, reference["edges"]) == reference["shares"]


def test_psi_zero_for_same_distribution_and_large_for_a_shift() -> None:
    """PSI is 0 for identical shares and above 0.25 when mass moves to the top bin."""
    assert population_stability([0.5, 0.5], [0.5, 0.5]) == 0
    assert population_stability([0.1] * 10, [0.05] * 9 + [0.55]) > 0.25


def test_no_event_while_scores_look_like_training() -> None:
    """Scores drawn like the reference raise nothing."""
    rng = random.Random(1)
    m = monitor([rng.random() ** 4 for _ in range(5000)])
    for _ in range(200):
        m.observe_score(rng.random() ** 4)
    assert m.psi is not None and m.psi < 0.25 and m.check(NOW) == []


def test_shift_raises_one_event_until_it_recovers() -> None:
    """A shifted window raises one score_distribution event; it re-arms only after returning inside the bound."""
    rng = random.Random(2)
    m = monitor([rng.random() ** 4 for _ in range(5000)], window=100)
    assert m.check(NOW) == []  # window not full yet: nothing judged
    for _ in range(100):
        m.observe_score(0.9 + rng.random() / 10)
    events = m.check(NOW)
    assert [e.kind for e in events] == ["score_distribution"] and events[0].value > 0.25
    assert m.check(NOW) == []
    for _ in range(100):
        m.observe_score(rng.random() ** 4)
    assert m.check(NOW) == []
    for _ in range(100):
        m.observe_score(0.95)
    assert [e.kind for e in m.check(NOW)] == ["score_distribution"]


def test_alert_precision_judged_after_enough_labels() -> None:
    """Precision below the bound raises an event once ten labelled alerts are in, not before."""
    m = monitor([0.1, 0.2, 0.3])
    for _ in range(9):
        m.observe_alert_outcome(False)
    assert m.alert_precision is None and m.check(NOW) == []
    m.observe_alert_outcome(True)
    events = m.check(NOW)
    assert [(e.kind, e.value, e.sample_size) for e in events] == [("alert_precision", 0.1, 10)]
