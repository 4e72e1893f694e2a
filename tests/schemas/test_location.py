"""Tests of locations and time windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from schemas import GeoPoint, Location, PlanePoint, TimeWindow

LOCATION = TypeAdapter(Location)


def test_geo_and_plane_points_are_told_apart() -> None:
    """{lat, lon} parses as a GeoPoint and {x, y} as a PlanePoint."""
    assert LOCATION.validate_json('{"lat": 53.4, "lon": -2.9}') == GeoPoint(lat=53.4, lon=-2.9)
    assert LOCATION.validate_json('{"x": 1, "y": 2.5}') == PlanePoint(x=1, y=2.5)


def test_model_instances_are_accepted() -> None:
    """Already-built points pass through the location type unchanged."""
    point = GeoPoint(lat=1, lon=2)
    assert LOCATION.validate_python(point) is point


@pytest.mark.parametrize("raw", ['{"latitude": 53.4}', "{}", '"Liverpool"', "[53.4, -2.9]", "null"])
def test_other_shapes_get_a_clear_error(raw: str) -> None:
    """Anything other than {lat, lon} or {x, y} is rejected with a message that says what a location is."""
    with pytest.raises(ValidationError, match=r"either \{lat, lon\} or \{x, y\}"):
        LOCATION.validate_json(raw)


def test_mixed_coordinates_rejected() -> None:
    """A point with both lat/lon and x/y is not silently read as one of them."""
    with pytest.raises(ValidationError, match="x"):
        LOCATION.validate_json('{"lat": 1, "lon": 2, "x": 3}')


def test_half_a_point_rejected() -> None:
    """A latitude without a longitude names the missing field."""
    with pytest.raises(ValidationError) as caught:
        LOCATION.validate_json('{"lat": 1}')
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(("geo", "lon"), "missing")]


@pytest.mark.parametrize(("raw", "field"), [('{"lat": 91, "lon": 0}', "lat"), ('{"lat": -90.5, "lon": 0}', "lat"),
                                            ('{"lat": 0, "lon": 180.1}', "lon")])
def test_coordinates_out_of_range_rejected(raw: str, field: str) -> None:
    """Latitude beyond ±90 or longitude beyond ±180 is not a place."""
    with pytest.raises(ValidationError, match=field):
        LOCATION.validate_json(raw)


@pytest.mark.parametrize("raw", ['{"lat": NaN, "lon": 0}', '{"lat": 0, "lon": Infinity}',
                                 '{"x": NaN, "y": 0}', '{"x": 0, "y": -Infinity}'])
def test_non_finite_coordinates_rejected_from_json(raw: str) -> None:
    """NaN and infinity in JSON never reach a distance matrix."""
    with pytest.raises(ValidationError):
        LOCATION.validate_json(raw)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_coordinates_rejected_in_python(value: float) -> None:
    """NaN and infinity built in Python are rejected for both kinds of point."""
    with pytest.raises(ValidationError):
        GeoPoint(lat=value, lon=0)
    with pytest.raises(ValidationError):
        PlanePoint(x=value, y=0)


def test_string_coordinates_rejected() -> None:
    """Strict mode: "53.4" is not a latitude."""
    with pytest.raises(ValidationError, match="lat"):
        LOCATION.validate_json('{"lat": "53.4", "lon": 0}')


@given(st.floats(-90, 90), st.floats(-180, 180))
def test_every_valid_geo_point_round_trips(lat: float, lon: float) -> None:
    """Any in-range point survives JSON unchanged."""
    point = GeoPoint(lat=lat, lon=lon)
    assert LOCATION.validate_json(LOCATION.dump_json(point)) == point


def test_window_must_not_end_before_it_starts() -> None:
    """A time window that ends before it starts says which ends are wrong."""
    data = json.dumps({"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T09:00:00Z"})
    with pytest.raises(ValidationError, match=r"ends \(2026-03-02T09:00:00\+00:00\) before it starts"):
        TimeWindow.model_validate_json(data)


def test_empty_window_allowed() -> None:
    """A window that starts and ends at the same instant is a valid (instant) window."""
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert TimeWindow(start=at, end=at).end == at


def test_window_compares_instants_across_time_zones() -> None:
    """09:30+01:00 is before 09:00Z, so that window is rejected whatever the clock faces say."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    with pytest.raises(ValidationError, match="before it starts"):
        TimeWindow(start=start, end=datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=1))))


def test_naive_window_rejected() -> None:
    """Window ends without a time zone are rejected."""
    with pytest.raises(ValidationError, match="start"):
        TimeWindow.model_validate_json('{"start": "2026-03-02T09:00:00", "end": "2026-03-02T10:00:00Z"}')
