"""DeadLetter: an input that failed validation, kept with its error and its exact bytes."""

from __future__ import annotations

import base64
import binascii

from pydantic import AwareDatetime, Field, field_validator

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

    @field_validator("key_base64", "value_base64")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        # original_value/original_key must give back the exact bytes: lenient b64decode drops stray characters
        # (so a replay would send other bytes) or fails only later, when the letter is replayed.
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error as error:
                raise ValueError(f"not valid base64 ({error})") from None
        return value

    @property
    def original_value(self) -> bytes:
        return base64.b64decode(self.value_base64)

    @property
    def original_key(self) -> bytes | None:
        return None if self.key_base64 is None else base64.b64decode(self.key_base64)
