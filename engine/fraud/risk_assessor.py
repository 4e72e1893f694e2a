"""RiskAssessor: model score, hard rules and block lists combined into the published FraudScore."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter

from engine.fraud.features import TxView
from engine.fraud.rules import RULES, rule_hits, score_of_hits
from engine.fraud.scorer import FraudScorer, Reason
from schemas import FraudScore, ScoreReason

# Alerts list the rules they trip; the reasons are frozen values, so one of each serves every alert.
RULE_REASONS = {code: ScoreReason(code=f"rule_{code}", text=text, weight=0.0) for code, text, _ in RULES}
SCORES = TypeAdapter(list[FraudScore])
TEXT_LIMIT: int = next(m.max_length for m in ScoreReason.model_fields["text"].metadata if hasattr(m, "max_length"))


@dataclass(frozen=True)
class BlockLists:
    """Customers and terminals that are refused outright (kept in Redis, read by the agent)."""

    customers: frozenset[str] = field(default_factory=frozenset)
    terminals: frozenset[str] = field(default_factory=frozenset)


class RiskAssessor:
    """Scores batches: the trained model, raised to 1 by a hard limit or a block list; reasons in words."""

    def __init__(self, scorer: FraudScorer, *, alert_threshold: float, max_amount: float, top_reasons: int = 3
                 ) -> None:
        self.scorer = scorer
        self.alert_threshold = alert_threshold
        self.max_amount = max_amount
        self.top_reasons = top_reasons

    def assess(self, batch: list[tuple[TxView, dict[str, float]]], blocked: BlockLists, at: datetime,
               matrix: npt.NDArray[np.float64] | None = None) -> list[FraudScore]:
        """One FraudScore per (transaction, features), in order; `at` is the scoring time (an input);
        `matrix`: the same features as FeatureBatch.matrix() gives them, to skip rebuilding the array."""
        explained = self.scorer.explain_many([features for _, features in batch], top=self.top_reasons, matrix=matrix)
        # One pass of pydantic-core over the whole batch: 6.0 µs a score, 8.8 µs one call per score.
        fields = [self._fields(tx, features, model_score, reasons, blocked, at)
                  for (tx, features), (model_score, reasons) in zip(batch, explained, strict=True)]
        return SCORES.validate_python(fields, from_attributes=True)

    def _fields(self, tx: TxView, features: dict[str, float], model_score: float, model_reasons: list[Reason],
                blocked: BlockLists, at: datetime) -> dict[str, Any]:
        """A FraudScore's fields, not yet validated."""
        hard: list[ScoreReason] = []
        if tx.customer_id in blocked.customers:
            hard.append(ScoreReason(code="blocked_customer", text="customer is on the block list", weight=1.0))
        if tx.terminal_id in blocked.terminals:
            hard.append(ScoreReason(code="blocked_terminal", text="terminal is on the block list", weight=1.0))
        if tx.amount > self.max_amount:
            hard.append(ScoreReason(code="over_hard_limit", weight=1.0,
                                    text=f"amount {tx.amount:.2f} is above the hard limit {self.max_amount:.2f}"))
        model_score = min(max(model_score, 0.0), 1.0)
        score = 1.0 if hard else model_score
        # The Reason tuples themselves, read by attribute when the batch is validated: copying each into a dict
        # first cost 1.5 µs a score, building each ScoreReason (model_construct, in Python) more. Texts are cut
        # to the schema's limit.
        reasons: list[ScoreReason | Reason] = [*hard]
        reasons += [r if len(r.text) <= TEXT_LIMIT else r._replace(text=r.text[:TEXT_LIMIT]) for r in model_reasons]
        hits = rule_hits(features)
        if score >= self.alert_threshold:
            # Rules an analyst knows by heart make an alert easier to act on; they add no weight.
            reasons += [RULE_REASONS[code] for code in hits]
        return {
            "transaction_id": tx.transaction_id, "customer_id": tx.customer_id, "terminal_id": tx.terminal_id,
            "occurred_at": tx.occurred_at, "score": round(score, 6), "alert": score >= self.alert_threshold,
            "reasons": reasons[:10], "model_version": self.scorer.version, "scored_at": at,
            "model_score": round(model_score, 6), "rules_score": score_of_hits(hits), "features": features,
        }
