"""Tests of PathContributions: an exact decomposition of the model's log-odds, cheap per batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.fraud.features import vector
from engine.fraud.handbook import read_handbook, replay_features
from engine.fraud.scorer import FraudScorer
from tests.fraud_factories import DATA


def test_contributions_add_up_to_the_models_log_odds(fraud_model: Path) -> None:
    """Bias plus the per-feature contributions equals LightGBM's raw score for every row."""
    scorer = FraudScorer.load(fraud_model)
    x = np.random.default_rng(0).random((300, scorer.booster.num_feature())) * 100
    raw, contributions = scorer.paths.raw_and_contributions(x)
    assert np.allclose(raw, scorer.booster.predict(x, raw_score=True))
    assert np.allclose(scorer.paths.bias + contributions.sum(axis=1), raw)


def test_top_reason_agrees_with_tree_shap_on_alerts(fraud_model: Path) -> None:
    """On real payments the model alerts on, the feature credited most is TreeSHAP's top feature in most cases."""
    scorer = FraudScorer.load(fraud_model)
    rows = [f for _, f in replay_features(read_handbook(DATA, limit=80_000))][60_000:]
    x = np.array([vector(f) for f in rows])
    raw, paths = scorer.paths.raw_and_contributions(x)
    alerts = raw > 0  # probability above 0.5
    shap = np.asarray(scorer.booster.predict(x[alerts], pred_contrib=True))[:, :-1]
    agree = float(np.mean(paths[alerts].argmax(axis=1) == shap.argmax(axis=1)))
    assert alerts.sum() >= 20 and agree >= 0.8, (int(alerts.sum()), agree)
