"""Tests of locations and time windows."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas import GeoPoint, Location, PlanePoint, TimeWindow

LOCATION = TypeAdapter(Location)


def test_geo_and_plane_points_are_told_apart() -> None:
    """{lat, lon} parses as a GeoPoint and {x, y} as a PlanePoint."""
    assert isinstance(LOCATION.validate_json('{"lat": 53.4, "lon": -2.9}'), GeoPoint)
    assert isinstance(LOCATION.validate_json('{"x": 1, "y": 2.5}'), PlanePoint)


def test_other_shapes_get_a_clear_error() -> None:
    """Anything else is rejected with a message that says what a location is."""
    with pytest.raises(ValidationError, match=r"either \{lat, lon\} or \{x, y\}"):
        LOCATION.validate_json('{"latitude": 53.4}')


def test_latitude_out_of_range_rejected() -> None:
    """Latitude beyond ±90 is not a place."""
    with pytest.raises(ValidationError, match="lat"):
        LOCATION.validate_json('{"lat": 91, "lon": 0}')


def test_non_finite_coordinates_rejected() -> None:
    """NaN and infinity never reach a distance matrix."""
    with pytest.raises(ValidationError):
        PlanePoint.model_validate({"x": float("nan"), "y": 0})


def test_window_must_not_end_before_it_starts() -> None:
    """A time window that ends before it starts says which ends are wrong."""
    data = json.dumps({"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T09:00:00Z"})
    with pytest.raises(ValidationError, match=r"ends .* before it starts"):
        TimeWindow.model_validate_json(data)
