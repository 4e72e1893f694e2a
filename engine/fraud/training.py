"""`engine fraud train`: time-split training on the handbook data, metrics against the rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.fraud.detection_metrics import detection_metrics
from engine.fraud.drift import reference_distribution
from engine.fraud.handbook import LABEL_DELAY, read_handbook, replay_features
from engine.fraud.rules import rules_score
from engine.fraud.scorer import FraudScorer

TRAIN_DAYS = 14  # days 0-13: labels known by the end of day 20 (7-day delay)
GAP_DAYS = 7  # days 14-20: happened before training, labels not yet known: not trained on
TEST_DAYS = 7  # days 21-27


def train_and_evaluate(csv_path: Path, out: Path, limit: int | None = None) -> dict[str, Any]:
    """Train on the first 21 days (14 labelled + a 7-day label gap), test on the last 7; save the model."""
    rows = list(replay_features(read_handbook(csv_path, limit)))
    first_test_day = TRAIN_DAYS + GAP_DAYS
    train = [(row, f) for row, f in rows if row.day < TRAIN_DAYS]
    test = [(row, f) for row, f in rows if first_test_day <= row.day < first_test_day + TEST_DAYS]
    scorer = FraudScorer.train([f for _, f in train], [row.fraud for row, _ in train], metadata={
        "data": csv_path.name, "train_days": [0, TRAIN_DAYS - 1], "gap_days": [TRAIN_DAYS, first_test_day - 1],
        "test_days": [first_test_day, first_test_day + TEST_DAYS - 1], "label_delay_days": LABEL_DELAY.days,
    })
    labels = [row.fraud for row, _ in test]
    model_scores = scorer.score_many([f for _, f in test])
    rule_scores = [rules_score(f) for _, f in test]
    days = [row.day for row, _ in test]
    customers = [row.tx.customer_id for row, _ in test]
    metrics = {
        "train_transactions": len(train), "train_frauds": sum(row.fraud for row, _ in train),
        "test_transactions": len(test), "test_frauds": sum(labels),
        **detection_metrics(labels, model_scores, rule_scores, days, customers),
    }
    scorer.metadata["metrics"] = metrics
    # What scores looked like on unseen days: the drift monitor compares live scores with this.
    scorer.metadata["score_reference"] = reference_distribution(model_scores)
    folder = scorer.save(out)
    return {"model": str(folder), "version": scorer.version, **metrics}


def main(csv_path: Path, out: Path, limit: int | None = None) -> int:
    result = train_and_evaluate(csv_path, out, limit)
    print(json.dumps(result, indent=2))
    return 0
