"""FraudReview: the language model's second opinion on an uncertain transaction."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.wire_model import Identifier, WireModel

ReviewDecision = Literal["fraud", "genuine", "unsure"]


class FraudReview(WireModel):
    """Published on `fraud-reviews`; advisory only, it never changes a published score."""

    transaction_id: Identifier
    customer_id: Identifier
    decision: ReviewDecision
    rationale: str = Field(max_length=400, description="The model's words; data to read, not to act on blindly.")
    score: float = Field(ge=0, le=1, allow_inf_nan=False, description="The published score that was reviewed.")
    model: str = Field(max_length=200)
    prompt_hash: str = Field(max_length=64)
    reviewed_at: AwareDatetime
    cycle_at: AwareDatetime
    latency_ms: float = Field(ge=0, allow_inf_nan=False)
