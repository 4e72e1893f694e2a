"""Tests of DeadLetter: a rejected message kept with its errors and exact bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import DeadLetter, ErrorDetail

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ERROR = ErrorDetail(location="(message)", message="Invalid JSON", error_type="json_invalid")


def letter(value: bytes, key: bytes | None) -> DeadLetter:
    return DeadLetter(
        source_topic="orders", partition=1, offset=7,
        key_base64=None if key is None else base64.b64encode(key).decode(),
        value_base64=base64.b64encode(value).decode(), expected_schema="OrderEvent", errors=[ERROR],
        received_at=NOW,
    )


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=256), st.none() | st.binary(max_size=64))
def test_original_bytes_round_trip(value: bytes, key: bytes | None) -> None:
    """original_value and original_key give back the exact bytes, also after a trip over the wire."""
    record = DeadLetter.from_bytes(letter(value, key).to_bytes())
    assert record.original_value == value
    assert record.original_key == key


def test_missing_key_stays_none() -> None:
    """A message without a key has no original key (not an empty one)."""
    record = letter(b"x", None)
    assert record.key_base64 is None and record.original_key is None


def test_empty_value_is_empty_bytes() -> None:
    """An empty message is kept as empty bytes."""
    assert letter(b"", b"k").original_value == b""


@pytest.mark.parametrize("field", ["value_base64", "key_base64"])
@pytest.mark.parametrize("text", ["not base64!", "e30", "e3 0="])
def test_invalid_base64_rejected(field: str, text: str) -> None:
    """Text that is not strict base64 is rejected, so a replay can never send other bytes or fail late."""
    fields = {"source_topic": "orders", "value_base64": "e30=", "expected_schema": "OrderEvent",
              "errors": [ERROR], "received_at": NOW, field: text}
    with pytest.raises(ValidationError, match=field):
        DeadLetter(**fields)  # type: ignore[arg-type]


def test_error_detail_is_closed() -> None:
    """An error detail has exactly location, message and error type."""
    with pytest.raises(ValidationError, match="input"):
        ErrorDetail.model_validate({"location": "x", "message": "m", "error_type": "t", "input": "secret"})
