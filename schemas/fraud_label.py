"""FraudLabel: a confirmed outcome for a past transaction, arriving days after it."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from schemas.wire_model import Identifier, WireModel


class FraudLabel(WireModel):
    """An analyst's or chargeback's verdict on one transaction (keyed by customer_id on `fraud-labels`)."""

    transaction_id: Identifier
    customer_id: Identifier
    terminal_id: Identifier
    occurred_at: AwareDatetime = Field(description="Event time of the labelled payment, not of the label.")
    fraud: bool
    labelled_at: AwareDatetime = Field(description="When the verdict was reached.")
    source: str = Field(default="investigation", max_length=64)
