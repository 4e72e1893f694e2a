"""Tests of training from a recorded stream: an event log of the topics, or a CSV of another layout mapped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from engine.fraud.handbook import read_handbook, replay_features
from engine.fraud.recorded import RecordingError, csv_events, log_events, parse_mapping, replay_stream
from engine.fraud.report import ReportError, precision_recall, write_report
from engine.fraud.training import train_on_recording, train_on_rows
from engine.replay.datasets.fraud import fraud_log
from tests.engine.fraud.test_features import DATA

KAGGLE_MAP = "customer_id=cc_num,terminal_id=merchant,amount=amt,occurred_at=trans_date_trans_time,fraud=is_fraud"


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The handbook's rows of 400 customers over all 28 days (about 20,000 payments), as a handbook CSV."""
    out = tmp_path_factory.mktemp("recorded") / "subset.csv"
    with DATA.open(newline="") as f, out.open("w", newline="") as g:
        reader = csv.DictReader(f)
        writer = csv.DictWriter(g, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        writer.writerows(row for row in reader if int(row["CUSTOMER_ID"]) % 12 == 0)
    return out


def kaggle_csv(subset: Path, out: Path, *, break_row: int | None = None) -> Path:
    """The subset in a card-fraud CSV layout: other column names, other order, extra columns, a local time."""
    with subset.open(newline="") as f, out.open("w", newline="") as g:
        writer = csv.writer(g)
        writer.writerow(["index", "trans_date_trans_time", "cc_num", "merchant", "category", "amt", "is_fraud"])
        for n, row in enumerate(csv.DictReader(f)):
            amount = "n/a" if n == break_row else row["TX_AMOUNT"]
            writer.writerow([n, row["TX_DATETIME"], row["CUSTOMER_ID"], f"merchant {row['TERMINAL_ID']}, Inc",
                             "misc", amount, row["TX_FRAUD"]])
    return out


def expected(subset: Path) -> list[tuple[str, dict[str, float], bool, int]]:
    return [(r.tx.transaction_id, f, r.fraud, r.day) for r, f in replay_features(read_handbook(subset))]


def test_log_replay_gives_the_training_features_and_the_same_model(subset: Path, tmp_path: Path) -> None:
    """A recording of the topics (the handbook written as a log) replays through the wire format to exactly the
    features, labels and days of the CSV path, and trains the identical model (same version)."""
    log = tmp_path / "handbook.log.zst"
    fraud_log(subset, log)
    replayed = replay_stream(log_events(log, "transactions", "fraud-labels", max_future_s=300))
    assert replayed.rejected == replayed.duplicates == replayed.unlabelled == 0
    got = [(r.tx.transaction_id, f, r.fraud, r.day) for r, f in replayed.rows]
    assert got == expected(subset)
    from_log = train_on_recording(log, log_events(log, "transactions", "fraud-labels", 300), tmp_path / "m1")
    from_csv = train_on_rows(list(replay_features(read_handbook(subset))), subset, tmp_path / "m2")
    assert from_log["version"] == from_csv["version"] and from_log["test_frauds"] > 0
    assert (Path(from_log["model"]) / "model.txt").is_file()
    assert json.loads((Path(from_log["model"]) / "metadata.json").read_text())["data"] == log.name


def test_mapped_csv_trains_through_the_same_path(subset: Path, tmp_path: Path) -> None:
    """A CSV with other column names (merchant names with spaces as terminals) maps onto the same features."""
    source = kaggle_csv(subset, tmp_path / "cards.csv")
    replayed = replay_stream(csv_events(source, parse_mapping(KAGGLE_MAP)))
    assert [(f, fraud, day) for _, f, fraud, day in expected(subset)] == [
        (f, r.fraud, r.day) for r, f in replayed.rows]
    result = train_on_recording(source, csv_events(source, parse_mapping(KAGGLE_MAP)), tmp_path / "model")
    assert (Path(result["model"]) / "model.txt").is_file() and result["pr_auc"] > 0


def test_bad_or_missing_column_named_with_its_row(subset: Path, tmp_path: Path) -> None:
    """An unparseable value names its column and row; a mapped column absent from the file is named; so is a
    field --map leaves out."""
    broken = kaggle_csv(subset, tmp_path / "broken.csv", break_row=41)
    with pytest.raises(RecordingError, match=r"broken.csv row 43: column 'amt' \(amount\) value 'n/a' is not a number"):
        list(csv_events(broken, parse_mapping(KAGGLE_MAP)))
    with pytest.raises(RecordingError, match=r"no column 'amount_eur' \(columns: index, trans_date_trans_time"):
        list(csv_events(broken, parse_mapping(KAGGLE_MAP.replace("=amt", "=amount_eur"))))
    with pytest.raises(RecordingError, match="--map does not name a column for fraud"):
        parse_mapping(KAGGLE_MAP.replace(",fraud=is_fraud", ""))


def test_report_prints_the_table_and_writes_the_png(subset: Path, tmp_path: Path) -> None:
    """`fraud report` on a trained folder: the metrics table (model and rules), a PNG, and a precision-recall
    curve whose average over the frauds is exactly the PR-AUC training reported."""
    result = train_on_rows(list(replay_features(read_handbook(subset))), subset, tmp_path / "models")
    table, png = write_report(tmp_path / "models")  # through LATEST
    assert f"| PR-AUC | {result['pr_auc']:.3f} | {result['baseline_pr_auc']:.3f} |" in table
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    saved = np.load(Path(result["model"]) / "test_scores.npz")
    precision, _ = precision_recall(saved["labels"], saved["model"])
    ranked_labels = saved["labels"][np.lexsort((saved["labels"], -saved["model"]))]
    assert round(float(precision[ranked_labels].mean()), 4) == result["pr_auc"]
    with pytest.raises(ReportError, match="no fraud model"):
        write_report(tmp_path)
