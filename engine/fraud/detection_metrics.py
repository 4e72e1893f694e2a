"""Fraud metrics: PR-AUC, recall at a false-positive rate, and the handbook's card precision@k."""

from __future__ import annotations

from collections import defaultdict


def average_precision(labels: list[bool], scores: list[float]) -> float:
    """Area under the precision-recall curve as average precision (ties broken pessimistically)."""
    positives = sum(labels)
    if positives == 0:
        return float("nan")
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: (-pair[0], pair[1]))
    hits, total = 0, 0.0
    for rank, (_, label) in enumerate(ranked, start=1):
        if label:
            hits += 1
            total += hits / rank
    return total / positives


def recall_at_fpr(labels: list[bool], scores: list[float], max_fpr: float = 0.01) -> float:
    """The share of frauds caught when at most max_fpr of genuine transactions are flagged."""
    genuine = sorted((s for s, label in zip(scores, labels, strict=True) if not label), reverse=True)
    frauds = [s for s, label in zip(scores, labels, strict=True) if label]
    if not genuine or not frauds:
        return float("nan")
    threshold = genuine[min(int(max_fpr * len(genuine)), len(genuine) - 1)]
    return sum(s > threshold for s in frauds) / len(frauds)


def card_precision_at_k(days: list[int], customers: list[str], labels: list[bool], scores: list[float],
                        k: int = 100) -> float:
    """Per day, the share of true frauds among the k customers with the highest risk; averaged over days."""
    by_day: dict[int, dict[str, tuple[float, bool]]] = defaultdict(dict)
    for day, customer, label, score in zip(days, customers, labels, scores, strict=True):
        best, fraud = by_day[day].get(customer, (0.0, False))
        by_day[day][customer] = (max(best, score), fraud or label)
    daily = []
    for customers_of_day in by_day.values():
        top = sorted(customers_of_day.values(), key=lambda pair: -pair[0])[:k]
        daily.append(sum(fraud for _, fraud in top) / k)
    return sum(daily) / len(daily) if daily else float("nan")


def detection_metrics(labels: list[bool], model: list[float], rules: list[float], days: list[int],
                      customers: list[str]) -> dict[str, float]:
    """The model's and the rules baseline's PR-AUC, recall at 1% FPR and card precision@100, rounded."""
    out: dict[str, float] = {}
    for prefix, scores in (("", model), ("baseline_", rules)):
        out[f"{prefix}pr_auc"] = round(average_precision(labels, scores), 4)
        out[f"{prefix}recall_at_1pct_fpr"] = round(recall_at_fpr(labels, scores), 4)
        out[f"{prefix}card_precision_at_100"] = round(card_precision_at_k(days, customers, labels, scores), 4)
    return out
