"""FraudScore: the risk of one transaction with its reasons."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from schemas.wire_model import Identifier, WireModel, WireValue


class ScoreReason(WireValue):
    """One reason behind a score, in an analyst's words."""

    code: str = Field(max_length=64)
    text: str = Field(max_length=300)
    weight: float = Field(allow_inf_nan=False, description="Contribution to the score (signed).")


class FraudScore(WireModel):
    """Published for every transaction; alert is set above the configured threshold."""

    transaction_id: Identifier
    customer_id: Identifier
    terminal_id: Identifier
    occurred_at: AwareDatetime
    score: float = Field(ge=0, le=1, allow_inf_nan=False, description="Final risk: the model, raised by hard rules.")
    alert: bool
    reasons: list[ScoreReason] = Field(max_length=10)
    model_version: str
    scored_at: AwareDatetime
    model_score: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False, description="The trained model alone.")
    rules_score: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False,
                               description="The rules-only baseline, kept for comparison.")
    features: dict[str, float] = Field(default_factory=dict, max_length=64,
                                       description="The feature values the model saw, for audit.")
