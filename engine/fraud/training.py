"""`engine fraud train`: time-split training on the handbook data, metrics against the rules."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine.fraud.detection_metrics import detection_metrics
from engine.fraud.drift import reference_distribution
from engine.fraud.handbook import LABEL_DELAY, LabelledTx, read_handbook, replay_features
from engine.fraud.recorded import Event, replay_stream
from engine.fraud.rules import rules_score
from engine.fraud.scorer import FraudScorer

TRAIN_DAYS = 14  # days 0-13: labels known by the end of day 20 (7-day delay)
GAP_DAYS = 7  # days 14-20: happened before training, labels not yet known: not trained on
TEST_DAYS = 7  # days 21-27
TEST_SCORES = "test_scores.npz"  # the test days' labels and scores beside the model, for `fraud report`


def train_and_evaluate(csv_path: Path, out: Path, limit: int | None = None) -> dict[str, Any]:
    """Train on the first 21 days (14 labelled + a 7-day label gap), test on the last 7; save the model."""
    rows = list(replay_features(read_handbook(csv_path, limit)))
    return train_on_rows(rows, csv_path, out, limit)


def train_on_recording(source: Path, events: Iterable[Event], out: Path, limit: int | None = None,
                       label_delay_days: float | None = LABEL_DELAY.days) -> dict[str, Any]:
    """The same split and model from a recorded stream (an event log, or a mapped CSV on the wire)."""
    replayed = replay_stream(events, limit)
    result = train_on_rows(replayed.rows, source, out, limit, label_delay_days)
    return {**result, "rejected": replayed.rejected, "duplicates": replayed.duplicates,
            "unlabelled": replayed.unlabelled}


def train_on_rows(rows: list[tuple[LabelledTx, dict[str, float]]], source: Path, out: Path,
                  limit: int | None = None, label_delay_days: float | None = LABEL_DELAY.days) -> dict[str, Any]:
    """Split rows (with their replayed features) by day, train, test against the rules, save the model."""
    csv_path = source
    first_test_day = TRAIN_DAYS + GAP_DAYS
    train = [(row, f) for row, f in rows if row.day < TRAIN_DAYS]
    test = [(row, f) for row, f in rows if first_test_day <= row.day < first_test_day + TEST_DAYS]
    if not test or not any(row.fraud for row, _ in train):
        if not rows:
            raise ValueError(f"{csv_path.name} holds no handbook transactions (is it the fraud handbook CSV?)")
        read = f"the first {limit} transactions cover" if limit is not None else f"{csv_path.name} covers"
        fix = ": read more of them (a larger limit, or none)" if limit is not None else ""
        raise ValueError(f"{read} days {rows[0][0].day}-{rows[-1][0].day}; training needs frauds in days "
                         f"0-{TRAIN_DAYS - 1} and the test needs days {first_test_day}-"
                         f"{first_test_day + TEST_DAYS - 1}{fix}")
    scorer = FraudScorer.train([f for _, f in train], [row.fraud for row, _ in train], metadata={
        "data": csv_path.name, "train_days": [0, TRAIN_DAYS - 1], "gap_days": [TRAIN_DAYS, first_test_day - 1],
        "test_days": [first_test_day, first_test_day + TEST_DAYS - 1], "label_delay_days": label_delay_days,
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
    save_test_scores(folder, labels, model_scores, rule_scores)
    return {"model": str(folder), "version": scorer.version, **metrics}


def save_test_scores(folder: Path, labels: list[bool], model: list[float], rules: list[float]) -> Path:
    """The test days' labels and scores (model and rules) beside the model, for `fraud report`."""
    path = folder / TEST_SCORES
    np.savez_compressed(path, labels=np.array(labels, dtype=bool), model=np.array(model, dtype=np.float64),
                        rules=np.array(rules, dtype=np.float64))
    return path


def main(csv_path: Path, out: Path, limit: int | None = None) -> int:
    result = train_and_evaluate(csv_path, out, limit)
    print(json.dumps(result, indent=2))
    return 0


def main_recording(source: Path, events: Iterable[Event], out: Path, limit: int | None = None,
                   label_delay_days: float | None = LABEL_DELAY.days) -> int:
    result = train_on_recording(source, events, out, limit, label_delay_days)
    print(json.dumps(result, indent=2))
    return 0
