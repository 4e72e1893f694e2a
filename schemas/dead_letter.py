"""DeadLetter: an input that failed validation, kept with its error and its exact bytes."""

from __future__ import annotations

import base64

from pydantic import AwareDatetime, Field

from schemas.wire_model import WireModel, WireValue


class ErrorDetail(WireValue):
    """One validation problem: where in the message and what is wrong."""

    location: str = Field(description="Dotted path to the field, or '(message)' for the whole message.")
    message: str
    error_type: str


class DeadLetter(WireModel):
    """A rejected message; replaying value_base64 to source_topic re-sends it byte for byte."""

    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key_base64: str | None = None
    value_base64: str
    expected_schema: str = Field(description="The wire model the message should have matched.")
    errors: list[ErrorDetail]
    received_at: AwareDatetime

    @property
    def original_value(self) -> bytes:
        return base64.b64decode(self.value_base64)

    @property
    def original_key(self) -> bytes | None:
        return None if self.key_base64 is None else base64.b64decode(self.key_base64)
