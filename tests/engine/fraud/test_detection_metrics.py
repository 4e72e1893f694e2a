"""Tests of the fraud metrics on cases small enough to compute by hand."""

from __future__ import annotations

import pytest

from engine.fraud.detection_metrics import average_precision, card_precision_at_k, recall_at_fpr


def test_average_precision_by_hand() -> None:
    """Frauds ranked 1st and 3rd give AP = (1/1 + 2/3) / 2."""
    assert average_precision([True, False, True, False], [0.9, 0.8, 0.7, 0.1]) == pytest.approx((1 + 2 / 3) / 2)


def test_perfect_ranking() -> None:
    """A scorer that ranks every fraud first has AP 1 and full recall at 1% FPR."""
    labels = [True] * 5 + [False] * 200
    scores = [1.0] * 5 + [0.0] * 200
    assert average_precision(labels, scores) == 1.0
    assert recall_at_fpr(labels, scores) == 1.0


def test_card_precision_counts_customers_per_day() -> None:
    """Per day the k riskiest customers are taken once each; the daily shares are averaged."""
    days = [0, 0, 0, 1, 1]
    customers = ["a", "a", "b", "a", "c"]
    labels = [False, True, False, False, False]
    scores = [0.9, 0.1, 0.5, 0.9, 0.8]
    assert card_precision_at_k(days, customers, labels, scores, k=1) == pytest.approx((1 + 0) / 2)
