"""`engine fraud report`: a trained model's metrics table and a PNG of its precision-recall curve and score
histogram, the rules baseline alongside, from the test days' scores saved next to the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.fraud.training import TEST_SCORES

METRICS = (("PR-AUC", "pr_auc"), ("recall at 1% false-positive rate", "recall_at_1pct_fpr"),
           ("card precision@100 (daily, averaged)", "card_precision_at_100"))


class ReportError(ValueError):
    """The folder holds no model that can be reported on; the message says what to do."""


def model_folder(folder: Path) -> Path:
    """folder itself when it holds a model, else the version its LATEST names."""
    if not (folder / "metadata.json").is_file() and (folder / "LATEST").is_file():
        folder = folder / (folder / "LATEST").read_text().strip()
    if not (folder / "metadata.json").is_file():
        raise ReportError(f"no fraud model in {folder} (train one with `engine fraud train`)")
    return folder


def precision_recall(labels: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64]
                     ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(precision, recall) at every rank, highest score first, genuine before fraud at equal scores (the same
    pessimistic order as detection_metrics.average_precision)."""
    order = np.lexsort((labels, -scores))  # last key first: by score descending, then genuine first
    hits = np.cumsum(labels[order])
    ranks = np.arange(1, len(order) + 1)
    return hits / ranks, hits / max(int(labels.sum()), 1)


def metrics_table(metadata: dict[str, Any]) -> str:
    """The model's and the rules' test-day metrics as a Markdown table."""
    metrics = metadata.get("metrics", {})
    days = metadata.get("test_days", ["?", "?"])
    lines = [f"| metric (test days {days[0]}-{days[1]}, {metrics.get('test_transactions', '?')} payments, "
             f"{metrics.get('test_frauds', '?')} frauds) | LightGBM {metadata.get('version', '')} | rules only |",
             "|---|---|---|"]
    for title, key in METRICS:
        model, rules = metrics.get(key, float("nan")), metrics.get("baseline_" + key, float("nan"))
        lines.append(f"| {title} | {model:.3f} | {rules:.3f} |")
    return "\n".join(lines)


def write_report(folder: Path, png: Path | None = None) -> tuple[str, Path]:
    """(the metrics table, the PNG written: precision-recall curves and score histograms, model and rules)."""
    import matplotlib  # imported here: training and the worker never plot

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    folder = model_folder(folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    if not (folder / TEST_SCORES).is_file():
        raise ReportError(f"{folder} has no {TEST_SCORES} (trained by an older engine): train it again")
    saved = np.load(folder / TEST_SCORES)
    labels, scores = saved["labels"], {"LightGBM": saved["model"], "rules only": saved["rules"]}
    figure, (curve, histogram) = plt.subplots(1, 2, figsize=(12, 4.5))
    for (name, values), key in zip(scores.items(), ("pr_auc", "baseline_pr_auc"), strict=True):
        precision, recall = precision_recall(labels, values)
        curve.step(recall, precision, where="post", label=f"{name} (PR-AUC {metadata['metrics'].get(key, 0):.3f})")
    curve.axhline(labels.mean() if len(labels) else 0, color="grey", linestyle=":", label="fraud share")
    curve.set(xlabel="recall", ylabel="precision", title="precision-recall, test days", xlim=(0, 1), ylim=(0, 1.02))
    curve.legend(loc="upper right")
    bins = np.linspace(0, 1, 41)
    for name, values in scores.items():
        for fraud, style in ((False, "-"), (True, "--")):
            histogram.hist(values[labels == fraud], bins=bins, histtype="step", linestyle=style, density=True,
                           label=f"{name}, {'fraud' if fraud else 'genuine'}")
    histogram.set(xlabel="score", ylabel="density (log)", yscale="log", title="score histogram, test days")
    histogram.legend(loc="upper center")
    figure.tight_layout()
    out = png or folder / "report.png"
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return metrics_table(metadata), out
