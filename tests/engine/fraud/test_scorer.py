"""Tests of FraudScorer and the rules baseline on a slice of the handbook data."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.fraud.handbook import read_handbook, replay_features
from engine.fraud.rules import rule_hits, rules_score
from engine.fraud.scorer import FraudScorer

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "fraud" / "handbook_sim_2018-04-01_to_2018-04-28.csv"


@pytest.fixture(scope="module")
def slice_rows() -> list[tuple[bool, dict[str, float]]]:
    if not DATA.exists():
        pytest.fail(f"data missing: {DATA}")
    return [(row.fraud, f) for row, f in replay_features(read_handbook(DATA, limit=30_000))]


def test_train_save_load_round_trip(slice_rows: list[tuple[bool, dict[str, float]]], tmp_path: Path) -> None:
    """A saved model loads back under its version and scores exactly as before."""
    features = [f for _, f in slice_rows]
    scorer = FraudScorer.train(features, [label for label, _ in slice_rows], metadata={"note": "test"})
    folder = scorer.save(tmp_path)
    loaded = FraudScorer.load(folder)
    assert folder.name == scorer.version == loaded.version
    assert loaded.score_many(features[:50]) == pytest.approx(scorer.score_many(features[:50]))


def test_training_is_deterministic(slice_rows: list[tuple[bool, dict[str, float]]]) -> None:
    """Same data and seed give the same model version."""
    features, labels = [f for _, f in slice_rows[:8000]], [label for label, _ in slice_rows[:8000]]
    assert FraudScorer.train(features, labels).version == FraudScorer.train(features, labels).version


def test_high_scores_come_with_reasons(slice_rows: list[tuple[bool, dict[str, float]]]) -> None:
    """The riskiest transaction's score is explained by its top features in words."""
    features = [f for _, f in slice_rows]
    scorer = FraudScorer.train(features, [label for label, _ in slice_rows])
    scores = scorer.score_many(features)
    riskiest = features[max(range(len(features)), key=scores.__getitem__)]
    score, reasons = scorer.explain(riskiest)
    assert score > 0.5 and reasons
    assert all(r.weight > 0 and r.text for r in reasons)


def test_load_refuses_other_features(tmp_path: Path, slice_rows: list[tuple[bool, dict[str, float]]]) -> None:
    """A model trained on another feature list is refused rather than silently misread."""
    scorer = FraudScorer.train([f for _, f in slice_rows[:5000]], [label for label, _ in slice_rows[:5000]])
    folder = scorer.save(tmp_path)
    meta = (folder / "metadata.json").read_text().replace('"amount",', '"amount_eur",', 1)
    (folder / "metadata.json").write_text(meta)
    with pytest.raises(ValueError, match="other features"):
        FraudScorer.load(folder)


def test_rules_baseline() -> None:
    """Rules fire on their conditions and add their weights."""
    quiet = {"amount": 20.0, "customer_count_1h": 0.0, "terminal_new_for_customer": 0.0, "terminal_risk_7d": 0.0}
    loud = {"amount": 250.0, "customer_count_1h": 6.0, "terminal_new_for_customer": 1.0, "terminal_risk_7d": 0.5}
    assert rule_hits(quiet) == [] and rules_score(quiet) == 0
    assert set(rule_hits(loud)) == {"high_amount", "velocity", "new_terminal_high_amount", "risky_terminal"}
    assert rules_score(loud) == 1.0
