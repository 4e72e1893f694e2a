"""FraudDrift: the score distribution or alert precision moved past its configured bound."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.wire_model import WireModel


class FraudDrift(WireModel):
    """Published on `fraud-drift` when a monitored quantity crosses its bound."""

    kind: Literal["score_distribution", "alert_precision"]
    value: float = Field(allow_inf_nan=False, description="PSI of recent scores, or precision of labelled alerts.")
    bound: float = Field(allow_inf_nan=False)
    sample_size: int = Field(ge=0, description="Scores (or labelled alerts) the value was computed from.")
    model_version: str
    detected_at: AwareDatetime
    detail: str = Field(default="", max_length=500)
