"""Tests of OrderEvent validation."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import OrderEvent
from tests.factories import order


def as_json(**changes: object) -> str:
    data = json.loads(order("f1", "o1").to_bytes())
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def test_create_needs_location_demand_and_window() -> None:
    """A create without location, demand and time window names all three."""
    with pytest.raises(ValidationError, match="location, demand, time_window"):
        OrderEvent.model_validate_json(as_json(location=None, demand=None, time_window=None))


def test_cancel_needs_only_ids() -> None:
    """A cancel carries the ids and the time, nothing else."""
    event = OrderEvent.model_validate_json(
        json.dumps({"event_id": "e", "action": "cancel", "fleet_id": "f1", "order_id": "o1",
                    "occurred_at": "2026-03-02T08:00:00Z"})
    )
    assert event.action == "cancel" and event.location is None


def test_numbers_in_strings_rejected() -> None:
    """Strict mode: "3" is not an integer demand."""
    with pytest.raises(ValidationError, match="demand"):
        OrderEvent.model_validate_json(as_json(demand="3"))


def test_naive_time_rejected() -> None:
    """Times without a time zone are ambiguous and rejected."""
    with pytest.raises(ValidationError, match="occurred_at"):
        OrderEvent.model_validate_json(as_json(occurred_at="2026-03-02T08:00:00"))


def test_unknown_action_rejected() -> None:
    """Only create, update, cancel and deliver exist."""
    with pytest.raises(ValidationError, match="action"):
        OrderEvent.model_validate_json(as_json(action="teleport"))


def test_ids_must_be_key_safe() -> None:
    """Ids with spaces or separators that need quoting in Redis keys are rejected."""
    with pytest.raises(ValidationError, match="order_id"):
        OrderEvent.model_validate_json(as_json(order_id="o 1"))


def test_note_length_bounded() -> None:
    """Free text is bounded so a prompt built from it stays bounded."""
    with pytest.raises(ValidationError, match="note"):
        OrderEvent.model_validate_json(as_json(note="x" * 501))


def test_negative_demand_rejected() -> None:
    """Demand is a non-negative quantity."""
    with pytest.raises(ValidationError, match="demand"):
        OrderEvent.model_validate_json(as_json(demand=-1))
