"""Tests of PathContributions: an exact decomposition of the model's log-odds, cheap per batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from engine.fraud.features import vector
from engine.fraud.handbook import read_handbook, replay_features
from engine.fraud.path_contributions import PathContributions
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


def test_leaves_are_lightgbms_on_real_rows_and_at_every_split_threshold(fraud_model: Path) -> None:
    """The kernel's leaf per row and tree is LightGBM's pred_leaf on handbook rows, and on rows whose features sit
    exactly on a split's threshold or one float either side (`<=` goes left); contributions add up as before."""
    scorer = FraudScorer.load(fraud_model)
    rows = np.array([vector(f) for _, f in replay_features(read_handbook(DATA, limit=30_000))][-2_000:])
    nodes = scorer.paths._nodes
    rng = np.random.default_rng(7)
    edges = rows.copy()
    for row in edges:
        for node in rng.integers(len(nodes.feature), size=6):
            row[nodes.feature[node]] = np.nextafter(nodes.threshold[node], rng.choice([np.inf, -np.inf, 0.0]))
        node = rng.integers(len(nodes.feature))
        row[nodes.feature[node]] = nodes.threshold[node]
    for x in (rows, edges):
        expected = np.asarray(scorer.booster.predict(x, pred_leaf=True), dtype=np.int64)
        assert np.array_equal(scorer.paths.leaves(x), expected)
        raw, _ = scorer.paths.raw_and_contributions(x)
        assert np.allclose(raw, scorer.booster.predict(x, raw_score=True))


@pytest.mark.parametrize("missing", ["NaN", "Zero", "None"])
def test_missing_values_and_zeros_take_lightgbms_side(missing: str) -> None:
    """Models whose splits treat NaN apart, or zero as missing, or neither: NaN, 0, ±1e-36 and ordinary values
    reach the leaf LightGBM's pred_leaf gives, whatever side each split sends them to by default."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4_000, 4))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(float)
    if missing == "NaN":
        x[rng.random(x.shape) < 0.2] = np.nan
    if missing == "Zero":
        x[rng.random(x.shape) < 0.2] = 0.0
    params = {"objective": "binary", "num_leaves": 15, "min_data_in_leaf": 20, "verbose": -1, "seed": 0,
              "zero_as_missing": missing == "Zero", "use_missing": missing != "None"}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=30)
    trees = booster.dump_model()["tree_info"]
    kinds = {node["missing_type"] for tree in trees for node in _splits(tree["tree_structure"])}
    assert kinds == {missing}
    probe = rng.normal(size=(600, 4))
    probe[rng.random(probe.shape) < 0.15] = np.nan
    probe[rng.random(probe.shape) < 0.15] = 0.0
    probe[rng.random(probe.shape) < 0.1] = rng.choice([1e-36, -1e-36])
    expected = np.asarray(booster.predict(probe, pred_leaf=True), dtype=np.int64)
    assert np.array_equal(PathContributions(booster).leaves(probe), expected)


def _splits(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "leaf_index" in node:
        return []
    return [node, *_splits(node["left_child"]), *_splits(node["right_child"])]
