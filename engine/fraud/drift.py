"""DriftMonitor: recent scores against the training distribution (PSI), and precision of labelled alerts."""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from schemas import FraudDrift

BINS = 10
EPSILON = 1e-4  # keeps the log finite for an empty bin


def reference_distribution(scores: Sequence[float], bins: int = BINS) -> dict[str, list[float]]:
    """Quantile bin edges of scores and the share of scores in each bin (stored with the model)."""
    ordered = sorted(scores)
    if not ordered:
        raise ValueError("no scores to build a reference distribution from")
    edges = sorted({ordered[min(int(len(ordered) * q / bins), len(ordered) - 1)] for q in range(1, bins)})
    return {"edges": edges, "shares": shares(ordered, edges)}


def shares(scores: Sequence[float], edges: list[float]) -> list[float]:
    """The share of scores falling in each bin (bin i holds edges[i-1] <= s < edges[i])."""
    counts = [0] * (len(edges) + 1)
    for score in scores:
        counts[bisect.bisect_right(edges, score)] += 1
    total = max(len(scores), 1)
    return [count / total for count in counts]


def population_stability(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI: sum of (actual - expected) * ln(actual / expected); above 0.25 is commonly read as a shift."""
    return sum((max(a, EPSILON) - max(e, EPSILON)) * math.log(max(a, EPSILON) / max(e, EPSILON))
               for e, a in zip(expected, actual, strict=True))


class DriftMonitor:
    """Fed scores and alert outcomes; check() returns a FraudDrift when a bound is crossed (once per crossing)."""

    def __init__(self, reference: dict[str, Any] | None, *, model_version: str, window: int, max_psi: float,
                 min_precision: float, min_labelled_alerts: int) -> None:
        self.reference = reference
        self.model_version = model_version
        self.max_psi = max_psi
        self.min_precision = min_precision
        self.min_labelled_alerts = min_labelled_alerts
        self.scores: deque[float] = deque(maxlen=window)
        self.alert_outcomes: deque[bool] = deque(maxlen=window)
        self._drifting: set[str] = set()

    def observe_score(self, score: float) -> None:
        self.scores.append(score)

    def observe_alert_outcome(self, fraud: bool) -> None:
        """A label arrived for a transaction this engine alerted on."""
        self.alert_outcomes.append(fraud)

    @property
    def psi(self) -> float | None:
        """PSI of the last `window` scores, once the window is full and the model has a reference."""
        if self.reference is None or len(self.scores) < (self.scores.maxlen or 0):
            return None
        return population_stability(self.reference["shares"], shares(list(self.scores), self.reference["edges"]))

    @property
    def alert_precision(self) -> float | None:
        if len(self.alert_outcomes) < self.min_labelled_alerts:
            return None
        return sum(self.alert_outcomes) / len(self.alert_outcomes)

    def check(self, at: datetime) -> list[FraudDrift]:
        """Drift events for bounds crossed since the last check; a quantity back inside re-arms its event."""
        events = []
        psi, precision = self.psi, self.alert_precision
        if self._crossed("score_distribution", psi is not None and psi > self.max_psi):
            assert psi is not None
            events.append(FraudDrift(kind="score_distribution", value=round(psi, 4), bound=self.max_psi,
                                     sample_size=len(self.scores), model_version=self.model_version, detected_at=at,
                                     detail=f"PSI of the last {len(self.scores)} scores against the training scores"))
        if self._crossed("alert_precision", precision is not None and precision < self.min_precision):
            assert precision is not None
            events.append(FraudDrift(kind="alert_precision", value=round(precision, 4), bound=self.min_precision,
                                     sample_size=len(self.alert_outcomes), model_version=self.model_version,
                                     detected_at=at, detail="share of labelled alerts confirmed as fraud"))
        return events

    def _crossed(self, kind: str, outside: bool) -> bool:
        if not outside:
            self._drifting.discard(kind)
            return False
        if kind in self._drifting:
            return False
        self._drifting.add(kind)
        return True
