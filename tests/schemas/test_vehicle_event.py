"""Tests of VehicleEvent validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import GeoPoint, PlanePoint, TimeWindow, VehicleEvent
from tests.factories import vehicle

IDS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,30}\Z", fullmatch=True)


def as_json(**changes: object) -> str:
    data = json.loads(vehicle("f1", "v1").to_bytes())
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def test_factory_vehicle_is_valid() -> None:
    """A full snapshot parses with its defaults: available, no current stop, nothing committed."""
    event = VehicleEvent.model_validate_json(as_json())
    assert event.status == "available" and event.current_stop is None and event.committed_stops == []


def test_plane_position_accepted() -> None:
    """A vehicle on an x/y plane has a PlanePoint position."""
    assert VehicleEvent.model_validate_json(as_json(position={"x": 0, "y": 0})).position == PlanePoint(x=0, y=0)


@pytest.mark.parametrize("field", ["position", "capacity", "shift"])
def test_snapshot_fields_required(field: str) -> None:
    """A vehicle event is a full snapshot: position, capacity and shift are required."""
    with pytest.raises(ValidationError, match=field):
        VehicleEvent.model_validate_json(as_json(**{field: None}))


def test_string_capacity_rejected() -> None:
    """Strict mode: "20" is not an integer capacity."""
    with pytest.raises(ValidationError, match="capacity"):
        VehicleEvent.model_validate_json(as_json(capacity="20"))


def test_negative_load_rejected() -> None:
    """Load on board cannot be negative."""
    with pytest.raises(ValidationError, match="load"):
        VehicleEvent.model_validate_json(as_json(load=-1))


def test_unknown_status_rejected() -> None:
    """Only the four documented statuses exist."""
    with pytest.raises(ValidationError, match="status"):
        VehicleEvent.model_validate_json(as_json(status="flying"))


def test_naive_shift_rejected() -> None:
    """Shift ends without a time zone are rejected."""
    shift = {"start": "2026-03-02T08:00:00", "end": "2026-03-02T16:00:00"}
    with pytest.raises(ValidationError, match="shift"):
        VehicleEvent.model_validate_json(as_json(shift=shift))


def test_shift_ending_before_start_rejected() -> None:
    """A shift that ends before it starts is rejected."""
    shift = {"start": "2026-03-02T16:00:00Z", "end": "2026-03-02T08:00:00Z"}
    with pytest.raises(ValidationError, match="before it starts"):
        VehicleEvent.model_validate_json(as_json(shift=shift))


def test_committed_stops_bounded_and_key_safe() -> None:
    """Committed stops are at most 500 key-safe ids."""
    assert len(VehicleEvent.model_validate_json(as_json(committed_stops=["o1"] * 500)).committed_stops) == 500
    with pytest.raises(ValidationError, match="committed_stops"):
        VehicleEvent.model_validate_json(as_json(committed_stops=["o1"] * 501))
    with pytest.raises(ValidationError, match="committed_stops"):
        VehicleEvent.model_validate_json(as_json(committed_stops=["o 1"]))


@st.composite
def vehicle_events(draw: st.DrawFn) -> VehicleEvent:
    at = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
    return VehicleEvent(
        event_id=draw(IDS), fleet_id=draw(IDS), vehicle_id=draw(IDS), occurred_at=at,
        position=draw(st.one_of(
            st.builds(GeoPoint, lat=st.floats(-90, 90), lon=st.floats(-180, 180)),
            st.builds(PlanePoint, x=st.floats(-1e9, 1e9), y=st.floats(-1e9, 1e9)),
        )),
        capacity=draw(st.integers(0, 1_000_000)), load=draw(st.integers(0, 1_000_000)),
        shift=TimeWindow(start=at, end=at + timedelta(hours=draw(st.integers(0, 24)))),
        status=draw(st.sampled_from(["available", "en_route", "on_break", "offline"])),
        current_stop=draw(st.none() | IDS), committed_stops=draw(st.lists(IDS, max_size=5)),
    )


@settings(max_examples=40, deadline=None)
@given(vehicle_events())
def test_bytes_round_trip(event: VehicleEvent) -> None:
    """Any valid vehicle snapshot survives to_bytes then from_bytes unchanged."""
    assert VehicleEvent.from_bytes(event.to_bytes()) == event
