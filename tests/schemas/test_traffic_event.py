"""Tests of TrafficEvent validation."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import CircleArea, TrafficEvent
from tests.factories import traffic


def as_json(**changes: object) -> str:
    data = json.loads(traffic("f1", "t1").to_bytes())
    data.update(changes)
    return json.dumps(data)


def test_area_kind_selects_the_shape() -> None:
    """The area's kind picks circle, segment or zone."""
    assert isinstance(TrafficEvent.model_validate_json(as_json()).area, CircleArea)
    zone = TrafficEvent.model_validate_json(as_json(area={"kind": "zone", "zone_id": "L1"}))
    assert zone.area.kind == "zone"


def test_needs_fleet_or_region() -> None:
    """A slowdown must say whom it affects."""
    with pytest.raises(ValidationError, match="fleet_id or a region"):
        TrafficEvent.model_validate_json(as_json(fleet_id=None))


def test_region_events_are_keyed_by_region() -> None:
    """Without a fleet, the Kafka key is the region."""
    event = TrafficEvent.model_validate_json(as_json(fleet_id=None, region="merseyside"))
    assert event.partition_key == "region:merseyside"


def test_validity_must_be_ordered() -> None:
    """valid_until must come after valid_from."""
    with pytest.raises(ValidationError, match="valid_until"):
        TrafficEvent.model_validate_json(as_json(valid_until="2026-03-02T07:00:00Z"))


@pytest.mark.parametrize("factor", [0, -0.5, 2.5])
def test_speed_factor_bounded(factor: float) -> None:
    """A speed factor of zero, negative or absurdly high is rejected."""
    with pytest.raises(ValidationError, match="speed_factor"):
        TrafficEvent.model_validate_json(as_json(speed_factor=factor))
