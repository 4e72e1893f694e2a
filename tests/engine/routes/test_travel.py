"""Tests of the straight-line travel model and its traffic rule."""

from __future__ import annotations

import pytest

from engine.routes.travel import StraightLineTravel, haversine_m
from schemas import GeoPoint, PlanePoint
from tests.factories import traffic


def test_haversine_known_distance() -> None:
    """Liverpool to Manchester is about 50 km as the crow flies."""
    assert haversine_m(GeoPoint(lat=53.4084, lon=-2.9916), GeoPoint(lat=53.4808, lon=-2.2426)) == pytest.approx(
        50_300, rel=0.02)


def test_plane_time_equals_distance() -> None:
    """On a plane at one unit per second, travel time is the Euclidean distance."""
    matrix = StraightLineTravel().matrix([PlanePoint(x=0, y=0), PlanePoint(x=3, y=4)], [])
    assert matrix.seconds[0][1] == 5 and matrix.distance[1][0] == 5


def test_traffic_slows_legs_in_its_area() -> None:
    """A jam around the first point halves the speed on legs that touch it, not on others."""
    points = [GeoPoint(lat=53.40, lon=-2.98), GeoPoint(lat=53.45, lon=-2.90), GeoPoint(lat=53.46, lon=-2.89)]
    jam = traffic("f", "jam", speed_factor=0.5)  # circle of 1.5 km around 53.40, -2.98
    free = StraightLineTravel().matrix(points, [])
    slow = StraightLineTravel().matrix(points, [jam])
    assert slow.seconds[0][1] == pytest.approx(2 * free.seconds[0][1])
    assert slow.seconds[1][2] == pytest.approx(free.seconds[1][2])
    assert slow.distance == free.distance


def test_mixed_coordinates_rejected() -> None:
    """A problem cannot mix lat/lon and x/y points."""
    with pytest.raises(ValueError, match="mixes"):
        StraightLineTravel().matrix([GeoPoint(lat=0, lon=0), PlanePoint(x=0, y=0)], [])
