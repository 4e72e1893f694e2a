"""Tests of decode() and dead_letter(): raw bytes in, a model or readable errors out."""

from __future__ import annotations

import pytest

from schemas import DecodeError, OrderEvent, dead_letter, decode
from tests.factories import order


def test_valid_bytes_decode() -> None:
    """Valid bytes give the model."""
    assert decode(OrderEvent, order("f1", "o1").to_bytes()).order_id == "o1"


@pytest.mark.parametrize(
    ("raw", "location", "error_type"),
    [
        (b"", "(message)", "empty"),
        (None, "(message)", "empty"),
        (b"{not json", "(message)", "json_invalid"),
        (b"\xff\xfe\x00", "(message)", "json_invalid"),
        (b"[1, 2]", "(message)", "model_type"),
    ],
)
def test_unreadable_messages(raw: bytes | None, location: str, error_type: str) -> None:
    """Empty, non-JSON, non-UTF-8 and non-object messages give one error for the whole message."""
    with pytest.raises(DecodeError) as caught:
        decode(OrderEvent, raw)
    assert [(e.location, e.error_type) for e in caught.value.errors] == [(location, error_type)]


def test_nested_errors_have_dotted_paths() -> None:
    """A bad nested field is reported by its dotted path."""
    raw = order("f1", "o1").to_bytes().replace(b'"lat":53.4', b'"lat":"north"')
    with pytest.raises(DecodeError) as caught:
        decode(OrderEvent, raw)
    assert any(e.location.startswith("location.") for e in caught.value.errors)
    assert "invalid OrderEvent" in str(caught.value)


def test_dead_letter_keeps_exact_bytes() -> None:
    """The dead letter carries the original key and value byte for byte, plus where they came from."""
    raw = b"\x00\x01 not json"
    with pytest.raises(DecodeError) as caught:
        decode(OrderEvent, raw)
    letter = dead_letter(caught.value, source_topic="orders", value=raw, key=b"f1", partition=2, offset=40)
    assert letter.original_value == raw and letter.original_key == b"f1"
    assert (letter.source_topic, letter.partition, letter.offset) == ("orders", 2, 40)
    assert letter.expected_schema == "OrderEvent"
