"""Tests of OrderEvent validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import GeoPoint, OrderEvent, PlanePoint, TimeWindow
from tests.factories import order

IDS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,30}\Z", fullmatch=True)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=500)


def as_json(**changes: object) -> str:
    data = json.loads(order("f1", "o1").to_bytes())
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def close_json(action: str, **extra: object) -> str:
    return json.dumps({"event_id": "e", "action": action, "fleet_id": "f1", "order_id": "o1",
                       "occurred_at": "2026-03-02T08:00:00Z", **extra})


def test_factory_order_is_valid() -> None:
    """The factory's create parses back with all its fields."""
    event = OrderEvent.model_validate_json(as_json())
    assert event.action == "create" and event.demand == 2 and isinstance(event.location, GeoPoint)


@pytest.mark.parametrize("action", ["create", "update"])
def test_create_and_update_need_location_demand_and_window(action: str) -> None:
    """A create or update without location, demand and time window names all three."""
    with pytest.raises(ValidationError, match=f"order {action} needs location, demand, time_window"):
        OrderEvent.model_validate_json(as_json(action=action, location=None, demand=None, time_window=None))


def test_create_names_only_what_is_missing() -> None:
    """A create lacking only its demand names only demand."""
    with pytest.raises(ValidationError) as caught:
        OrderEvent.model_validate_json(as_json(demand=None))
    assert [e["msg"] for e in caught.value.errors()] == ["Value error, an order create needs demand"]


@pytest.mark.parametrize("action", ["cancel", "deliver"])
def test_cancel_and_deliver_need_only_ids(action: str) -> None:
    """A cancel or deliver carries the ids and the time, nothing else."""
    event = OrderEvent.model_validate_json(close_json(action))
    assert event.action == action and event.location is None and event.demand is None
    assert event.time_window is None


def test_plane_location_accepted() -> None:
    """An order on an x/y plane (benchmarks) parses its location as a PlanePoint."""
    event = OrderEvent.model_validate_json(as_json(location={"x": 10, "y": -4.5}))
    assert event.location == PlanePoint(x=10, y=-4.5)


def test_numbers_in_strings_rejected() -> None:
    """Strict mode: "3" is not an integer demand."""
    with pytest.raises(ValidationError, match="demand"):
        OrderEvent.model_validate_json(as_json(demand="3"))


def test_float_for_int_rejected() -> None:
    """Strict mode: 1.5 is not an integer priority."""
    with pytest.raises(ValidationError, match="priority"):
        OrderEvent.model_validate_json(as_json(priority=1.5))


def test_naive_time_rejected() -> None:
    """Times without a time zone are ambiguous and rejected."""
    with pytest.raises(ValidationError, match="occurred_at"):
        OrderEvent.model_validate_json(as_json(occurred_at="2026-03-02T08:00:00"))


def test_naive_datetime_object_rejected() -> None:
    """A naive datetime built in Python is rejected just like a naive JSON string."""
    with pytest.raises(ValidationError, match="occurred_at"):
        OrderEvent(event_id="e", action="cancel", fleet_id="f", order_id="o", occurred_at=datetime(2026, 3, 2))


def test_window_ending_before_start_rejected() -> None:
    """An order whose time window ends before it starts is rejected at the window."""
    window = {"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T09:00:00Z"}
    with pytest.raises(ValidationError, match="before it starts") as caught:
        OrderEvent.model_validate_json(as_json(time_window=window))
    assert [e["loc"] for e in caught.value.errors()] == [("time_window",)]


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


@pytest.mark.parametrize(("field", "value"), [("demand", -1), ("priority", 11), ("service_time_s", -1.0),
                                              ("service_time_s", 86_401.0)])
def test_out_of_range_numbers_rejected(field: str, value: float) -> None:
    """Demand, priority and service time stay within their documented ranges."""
    with pytest.raises(ValidationError, match=field):
        OrderEvent.model_validate_json(as_json(**{field: value}))


def test_nan_service_time_rejected() -> None:
    """A NaN service time never reaches the solver."""
    with pytest.raises(ValidationError, match="service_time_s"):
        OrderEvent.model_validate_json(as_json().replace('"service_time_s": 120.0', '"service_time_s": NaN'))


@st.composite
def order_events(draw: st.DrawFn) -> OrderEvent:
    action = draw(st.sampled_from(["create", "update", "cancel", "deliver"]))
    at = draw(TIMES)
    full = action in ("create", "update")
    return OrderEvent(
        event_id=draw(IDS), action=action, fleet_id=draw(IDS), order_id=draw(IDS), occurred_at=at,
        location=GeoPoint(lat=draw(st.floats(-90, 90)), lon=draw(st.floats(-180, 180))) if full else None,
        demand=draw(st.integers(0, 1_000_000)) if full else None,
        time_window=TimeWindow(start=at, end=at + draw(st.timedeltas(timedelta(0), timedelta(days=2))))
        if full else None,
        service_time_s=draw(st.floats(0, 86_400)), priority=draw(st.integers(0, 10)), note=draw(TEXT),
    )


@settings(max_examples=50, deadline=None)
@given(order_events())
def test_bytes_round_trip(event: OrderEvent) -> None:
    """Any valid order event survives to_bytes then from_bytes unchanged."""
    assert OrderEvent.from_bytes(event.to_bytes()) == event
