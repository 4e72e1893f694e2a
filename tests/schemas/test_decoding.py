"""Tests of decode() and dead_letter(): raw bytes in, a model or readable errors out."""

from __future__ import annotations

import json

import pytest

from schemas import DecodeError, OrderEvent, Transaction, dead_letter, decode
from tests.factories import order


def broken(**changes: object) -> bytes:
    data = json.loads(order("f1", "o1").to_bytes())
    data.update(changes)
    return json.dumps(data).encode()


def errors_of(raw: bytes | None) -> list[tuple[str, str]]:
    with pytest.raises(DecodeError) as caught:
        decode(OrderEvent, raw)
    return [(e.location, e.error_type) for e in caught.value.errors]


def test_valid_bytes_decode() -> None:
    """Valid bytes give the model."""
    assert decode(OrderEvent, order("f1", "o1").to_bytes()) == order("f1", "o1")


@pytest.mark.parametrize(
    ("raw", "location", "error_type"),
    [
        (b"", "(message)", "empty"),
        (None, "(message)", "empty"),
        (b"{not json", "(message)", "json_invalid"),
        (b"\xff\xfe\x00", "(message)", "json_invalid"),
        (b'{"note": "\xff"}', "(message)", "json_invalid"),
        (b"[1, 2]", "(message)", "model_type"),
        (b"null", "(message)", "model_type"),
    ],
)
def test_unreadable_messages(raw: bytes | None, location: str, error_type: str) -> None:
    """Empty, non-JSON, non-UTF-8 and non-object messages give one error for the whole message."""
    assert errors_of(raw) == [(location, error_type)]


def test_empty_message_says_so() -> None:
    """An empty message is reported as such, not as a JSON error."""
    with pytest.raises(DecodeError) as caught:
        decode(OrderEvent, b"")
    assert caught.value.errors[0].message == "empty message"
    assert str(caught.value) == "invalid OrderEvent: (message): empty message"


def test_nested_errors_have_dotted_paths() -> None:
    """A bad nested field is reported by its dotted path, including the location kind."""
    assert errors_of(broken(location={"lat": "north", "lon": 0})) == [("location.geo.lat", "float_type")]
    assert errors_of(broken(location={"lat": 95, "lon": 0})) == [("location.geo.lat", "less_than_equal")]


def test_cross_field_errors_are_located() -> None:
    """Model-level errors point at the model they belong to (the window, or the whole message)."""
    window = {"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T09:00:00Z"}
    assert errors_of(broken(time_window=window)) == [("time_window", "value_error")]
    assert errors_of(broken(demand=None)) == [("(message)", "value_error")]
    assert errors_of(broken(location={"north": 1})) == [("location", "invalid_location")]


def test_every_problem_is_listed() -> None:
    """All problems are reported at once, each with its location and type."""
    found = errors_of(broken(demand="3", priority=99, surprise=True, occurred_at="2026-03-02T08:00:00"))
    assert sorted(found) == [("demand", "int_type"), ("occurred_at", "timezone_aware"),
                             ("priority", "less_than_equal"), ("surprise", "extra_forbidden")]


def test_error_text_names_schema_and_fields() -> None:
    """The exception text names the expected schema and each bad field."""
    with pytest.raises(DecodeError, match=r"^invalid OrderEvent: demand: .*; priority: ") as caught:
        decode(OrderEvent, broken(demand="3", priority=99))
    assert caught.value.schema == "OrderEvent"


def test_errors_do_not_echo_the_input() -> None:
    """Error messages never repeat the rejected value (it may be personal data)."""
    with pytest.raises(DecodeError) as caught:
        decode(OrderEvent, broken(note="4111-1111-1111-1111 " * 30))
    assert "4111" not in str(caught.value)
    assert all("4111" not in e.message for e in caught.value.errors)


def test_wrong_schema_is_rejected() -> None:
    """An order decoded as a Transaction is rejected with the Transaction schema named."""
    with pytest.raises(DecodeError, match="invalid Transaction"):
        decode(Transaction, order("f1", "o1").to_bytes())


def test_dead_letter_keeps_exact_bytes() -> None:
    """The dead letter carries the original key and value byte for byte, plus where they came from."""
    raw = b"\x00\x01 not json"
    with pytest.raises(DecodeError) as caught:
        decode(OrderEvent, raw)
    letter = dead_letter(caught.value, source_topic="orders", value=raw, key=b"f1", partition=2, offset=40)
    assert letter.original_value == raw and letter.original_key == b"f1"
    assert (letter.source_topic, letter.partition, letter.offset) == ("orders", 2, 40)
    assert letter.expected_schema == "OrderEvent" and letter.errors == caught.value.errors
    assert letter.received_at.tzinfo is not None


def test_dead_letter_of_empty_message() -> None:
    """A missing value and key are kept as empty bytes and no key."""
    with pytest.raises(DecodeError) as caught:
        decode(OrderEvent, None)
    letter = dead_letter(caught.value, source_topic="orders", value=None, key=None, partition=None, offset=None)
    assert letter.original_value == b"" and letter.original_key is None
