"""Tests of RiskAssessor: the model's score, hard rules and block lists, and the reasons published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.fraud.features import FeatureBuilder, TxView
from engine.fraud.risk_assessor import TEXT_LIMIT, BlockLists, RiskAssessor
from engine.fraud.scorer import FraudScorer, Reason
from schemas import FraudScore

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def assessor(fraud_model: Path) -> RiskAssessor:
    return RiskAssessor(FraudScorer.load(fraud_model), alert_threshold=0.5, max_amount=5000.0)


def scored(assessor: RiskAssessor, amount: float, blocked: BlockLists | None = None, terminal: str = "t1"
           ) -> FraudScore:
    builder = FeatureBuilder()
    for i in range(5):
        builder.add(TxView(f"h{i}", NOW - timedelta(days=5 - i), "c1", "t1", 40.0))
    tx = TxView("x", NOW, "c1", terminal, amount)
    return assessor.assess([(tx, builder.features(tx))], blocked or BlockLists(), NOW)[0]


def test_ordinary_payment_is_low_and_carries_the_model_score(assessor: RiskAssessor) -> None:
    """An everyday amount at a known terminal scores low, no alert, and the final score is the model's."""
    score = scored(assessor, 41.0)
    assert score.score < 0.5 and not score.alert and score.score == score.model_score
    assert score.features["customer_count_30d"] == 5 and score.model_version == assessor.scorer.version


def test_unusual_amount_alerts_with_amount_reasons_and_rules(assessor: RiskAssessor) -> None:
    """20x the usual amount alerts; the top reason is about the amount and tripped rules are listed unweighted."""
    score = scored(assessor, 800.0)
    assert score.alert and score.score >= 0.5
    assert score.reasons[0].code in ("amount", "amount_vs_customer_mean_30d")
    assert any(r.code == "rule_high_amount" and r.weight == 0 for r in score.reasons)
    assert score.rules_score > 0


def test_block_list_and_hard_limit_force_score_one(assessor: RiskAssessor) -> None:
    """A blocked terminal or customer, or an amount over the hard limit, scores 1 with that reason first."""
    blocked = scored(assessor, 41.0, BlockLists(terminals=frozenset({"t-bad"})), terminal="t-bad")
    assert blocked.score == 1.0 and blocked.alert and blocked.reasons[0].code == "blocked_terminal"
    assert blocked.model_score < 0.5  # the model's own view is kept for audit
    customer = scored(assessor, 41.0, BlockLists(customers=frozenset({"c1"})))
    assert customer.reasons[0].code == "blocked_customer"
    over = scored(assessor, 6000.0)
    assert over.score == 1.0 and over.reasons[0].code == "over_hard_limit" and "5000.00" in over.reasons[0].text


def test_batch_scores_match_single_scores(assessor: RiskAssessor) -> None:
    """Scoring a batch gives each transaction the same score and reasons as scoring it alone."""
    builder = FeatureBuilder()
    batch = [(tx, builder.features(tx)) for tx in (TxView(str(i), NOW, f"c{i}", "t", 20.0 * (i + 1)) for i in range(6))]
    together = assessor.assess(batch, BlockLists(), NOW)
    alone = [assessor.assess([item], BlockLists(), NOW)[0] for item in batch]
    assert together == alone


def test_a_reason_text_past_the_schema_limit_is_cut_not_refused(assessor: RiskAssessor,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A model reason whose text is longer than ScoreReason allows is published cut to the limit, weight kept."""
    long_text = "x" * (TEXT_LIMIT + 50)
    monkeypatch.setattr(assessor.scorer, "explain_many",
                        lambda rows, top=3, matrix=None: [(0.2, [Reason("amount", long_text, 0.7)]) for _ in rows])
    score = scored(assessor, 41.0)
    assert score.reasons[0].code == "amount" and score.reasons[0].weight == 0.7
    assert score.reasons[0].text == long_text[:TEXT_LIMIT]
