"""Tests of FraudScore and its reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas import FraudScore, ScoreReason

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REASON = ScoreReason(code="amount", text="Amount is 9x the customer's usual", weight=0.4)


def score(**changes: object) -> FraudScore:
    fields: dict[str, object] = {
        "transaction_id": "tx1", "customer_id": "c1", "terminal_id": "t1", "occurred_at": NOW, "score": 0.87,
        "alert": True, "reasons": [REASON], "model_version": "v1", "scored_at": NOW,
    }
    return FraudScore(**{**fields, **changes})  # type: ignore[arg-type]


def test_round_trip() -> None:
    """A score with its reasons survives to_bytes then from_bytes unchanged."""
    original = score()
    assert FraudScore.from_bytes(original.to_bytes()) == original


@pytest.mark.parametrize("value", [-0.01, 1.01, float("nan"), float("inf")])
def test_score_is_a_probability(value: float) -> None:
    """Scores outside [0, 1] or non-finite are rejected."""
    with pytest.raises(ValidationError, match="score"):
        score(score=value)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_score_bounds_inclusive(value: float) -> None:
    """0 and 1 themselves are valid scores."""
    assert score(score=value).score == value


def test_at_most_ten_reasons() -> None:
    """Reasons are capped at ten so alerts stay readable."""
    assert len(score(reasons=[REASON] * 10).reasons) == 10
    with pytest.raises(ValidationError, match="reasons"):
        score(reasons=[REASON] * 11)


def test_reason_text_bounded_and_weight_finite() -> None:
    """A reason's code and text are bounded and its weight is a finite number."""
    with pytest.raises(ValidationError, match="code"):
        ScoreReason(code="c" * 65, text="t", weight=0.1)
    with pytest.raises(ValidationError, match="text"):
        ScoreReason(code="c", text="t" * 301, weight=0.1)
    with pytest.raises(ValidationError, match="weight"):
        ScoreReason(code="c", text="t", weight=float("nan"))


def test_string_alert_rejected() -> None:
    """Strict mode: "true" is not a boolean."""
    data = {**json.loads(score().to_bytes()), "alert": "true"}
    with pytest.raises(ValidationError, match="alert"):
        FraudScore.model_validate_json(json.dumps(data))
