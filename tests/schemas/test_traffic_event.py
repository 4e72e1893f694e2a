"""Tests of TrafficEvent validation."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import CircleArea, GeoPoint, SegmentArea, TrafficEvent, ZoneArea
from tests.factories import traffic


def as_json(**changes: object) -> str:
    data = json.loads(traffic("f1", "t1").to_bytes())
    data.update(changes)
    return json.dumps(data)


def test_area_kind_selects_the_shape() -> None:
    """The area's kind picks circle, segment or zone."""
    assert isinstance(TrafficEvent.model_validate_json(as_json()).area, CircleArea)
    zone = TrafficEvent.model_validate_json(as_json(area={"kind": "zone", "zone_id": "L1"}))
    assert isinstance(zone.area, ZoneArea) and zone.area.zone_id == "L1"
    segment = TrafficEvent.model_validate_json(as_json(area={
        "kind": "segment", "start": {"lat": 53.4, "lon": -2.9}, "end": {"lat": 53.5, "lon": -2.8}}))
    assert isinstance(segment.area, SegmentArea) and segment.area.width_m == 200.0
    assert segment.area.start == GeoPoint(lat=53.4, lon=-2.9)


def test_unknown_area_kind_rejected() -> None:
    """An area of an unknown kind is rejected, not guessed."""
    with pytest.raises(ValidationError, match="area"):
        TrafficEvent.model_validate_json(as_json(area={"kind": "polygon", "points": []}))


@pytest.mark.parametrize("radius", [0, -10, 2_000_000])
def test_circle_radius_bounded(radius: float) -> None:
    """A circle needs a positive, bounded radius."""
    area = {"kind": "circle", "center": {"lat": 53.4, "lon": -2.9}, "radius_m": radius}
    with pytest.raises(ValidationError, match="radius_m"):
        TrafficEvent.model_validate_json(as_json(area=area))


def test_circle_center_must_be_a_location() -> None:
    """A circle centre that is neither {lat, lon} nor {x, y} is rejected with the location message."""
    area = {"kind": "circle", "center": {"north": 1}, "radius_m": 10}
    with pytest.raises(ValidationError, match=r"either \{lat, lon\} or \{x, y\}"):
        TrafficEvent.model_validate_json(as_json(area=area))


def test_needs_fleet_or_region() -> None:
    """A slowdown must say whom it affects."""
    with pytest.raises(ValidationError, match="fleet_id or a region"):
        TrafficEvent.model_validate_json(as_json(fleet_id=None))


def test_fleet_events_are_keyed_by_fleet() -> None:
    """With a fleet, the Kafka key is the fleet id."""
    assert TrafficEvent.model_validate_json(as_json()).partition_key == "f1"


def test_region_events_are_keyed_by_region() -> None:
    """Without a fleet, the Kafka key is the region."""
    event = TrafficEvent.model_validate_json(as_json(fleet_id=None, region="merseyside"))
    assert event.partition_key == "region:merseyside"


@pytest.mark.parametrize("until", ["2026-03-02T07:00:00Z", "2026-03-02T08:00:00Z"])
def test_validity_must_be_ordered(until: str) -> None:
    """valid_until must come strictly after valid_from (an empty interval is rejected too)."""
    with pytest.raises(ValidationError, match="valid_until must be after valid_from"):
        TrafficEvent.model_validate_json(as_json(valid_from="2026-03-02T08:00:00Z", valid_until=until))


def test_naive_validity_rejected() -> None:
    """Validity times without a time zone are rejected."""
    with pytest.raises(ValidationError, match="valid_from"):
        TrafficEvent.model_validate_json(as_json(valid_from="2026-03-02T08:00:00"))


@pytest.mark.parametrize("factor", [0, -0.5, 2.5])
def test_speed_factor_bounded(factor: float) -> None:
    """A speed factor of zero, negative or absurdly high is rejected."""
    with pytest.raises(ValidationError, match="speed_factor"):
        TrafficEvent.model_validate_json(as_json(speed_factor=factor))


def test_string_speed_factor_rejected() -> None:
    """Strict mode: "0.5" is not a number."""
    with pytest.raises(ValidationError, match="speed_factor"):
        TrafficEvent.model_validate_json(as_json(speed_factor="0.5"))


def test_round_trip() -> None:
    """A traffic event survives to_bytes then from_bytes unchanged."""
    event = traffic("f1", "t1", speed_factor=0.2)
    assert TrafficEvent.from_bytes(event.to_bytes()) == event
