"""Tests of the straight-line travel model and its traffic rule."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import numpy as np
import pytest

from engine.routes.travel import StraightLineTravel, haversine_m
from schemas import CircleArea, GeoPoint, Location, PlanePoint, SegmentArea, TrafficEvent
from tests.factories import T0, traffic


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
    assert np.array_equal(slow.distance, free.distance)


def test_mixed_coordinates_rejected() -> None:
    """A problem cannot mix lat/lon and x/y points."""
    with pytest.raises(ValueError, match="mixes"):
        StraightLineTravel().matrix([GeoPoint(lat=0, lon=0), PlanePoint(x=0, y=0)], [])


# The pure-Python model the vectorised one replaced, kept as the reference its values must equal.
def _ref_distance(a: Location, b: Location) -> float:
    if isinstance(a, GeoPoint) and isinstance(b, GeoPoint):
        return haversine_m(a, b)
    assert isinstance(a, PlanePoint) and isinstance(b, PlanePoint)
    return math.hypot(a.x - b.x, a.y - b.y)


def _ref_midpoint(a: Location, b: Location) -> Location:
    if isinstance(a, GeoPoint) and isinstance(b, GeoPoint):
        return GeoPoint(lat=(a.lat + b.lat) / 2, lon=(a.lon + b.lon) / 2)
    assert isinstance(a, PlanePoint) and isinstance(b, PlanePoint)
    return PlanePoint(x=(a.x + b.x) / 2, y=(a.y + b.y) / 2)


def _ref_near_segment(point: Location, area: SegmentArea) -> bool:
    start, end = area.start, area.end
    length = _ref_distance(start, end)
    if length == 0:
        return _ref_distance(point, start) <= area.width_m
    to_start, to_end = _ref_distance(point, start), _ref_distance(point, end)
    s = (length + to_start + to_end) / 2
    height = 2 * math.sqrt(max(s * (s - length) * (s - to_start) * (s - to_end), 0.0)) / length
    within = to_start**2 <= length**2 + to_end**2 and to_end**2 <= length**2 + to_start**2
    return within and height <= area.width_m


def _ref_slowdown(a: Location, b: Location, events: list[TrafficEvent]) -> float:
    factor = 1.0
    points = (a, b, _ref_midpoint(a, b))
    for event in events:
        area = event.area
        if isinstance(area, CircleArea):
            hit = any(_ref_distance(p, area.center) <= area.radius_m for p in points)
        elif isinstance(area, SegmentArea):
            hit = any(_ref_near_segment(p, area) for p in points)
        else:
            hit = False
        if hit:
            factor = min(factor, event.speed_factor)
    return factor


def _ref_matrix(model: StraightLineTravel, locations: list[Location], events: list[TrafficEvent]
                ) -> tuple[list[list[float]], list[list[float]]]:
    n = len(locations)
    seconds, distance = [[0.0] * n for _ in range(n)], [[0.0] * n for _ in range(n)]
    for i, a in enumerate(locations):
        for j, b in enumerate(locations):
            if i == j:
                continue
            d = _ref_distance(a, b)
            if isinstance(a, GeoPoint):
                d *= model.detour_factor
                free_flow = d / (model.speed_kmh / 3.6)
            else:
                free_flow = d / model.plane_units_per_second
            distance[i][j] = d
            seconds[i][j] = free_flow / _ref_slowdown(a, b, events) if events else free_flow
    return seconds, distance


def _random_traffic(rng: random.Random, geo: bool, count: int) -> list[TrafficEvent]:
    def point() -> dict[str, float]:
        if geo:
            return {"lat": 53.40 + rng.uniform(-0.05, 0.05), "lon": -2.98 + rng.uniform(-0.08, 0.08)}
        return {"x": rng.uniform(0, 100), "y": rng.uniform(0, 100)}

    events = []
    for k in range(count):
        area: dict[str, object] = (
            {"kind": "circle", "center": point(), "radius_m": rng.uniform(200, 3000) if geo else rng.uniform(3, 30)}
            if k % 2 == 0 else
            {"kind": "segment", "start": point(), "end": point(), "width_m": rng.uniform(50, 800) if geo else 5.0})
        events.append(TrafficEvent.model_validate({
            "event_id": f"t{k}", "fleet_id": "f", "occurred_at": T0, "area": area,
            "speed_factor": rng.uniform(0.2, 0.95), "valid_from": T0, "valid_until": T0 + timedelta(hours=1),
        }, strict=False))
    return events


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_matrix_equals_the_reference(seed: int) -> None:
    """On random lat/lon and x/y points with circle and segment jams, every entry equals the pure-Python
    reference within 1e-6 relative (and the diagonal is exactly zero)."""
    rng = random.Random(seed)
    geo = seed % 2 == 0
    n = rng.randint(2, 40)
    locations: list[Location] = [
        GeoPoint(lat=53.40 + rng.uniform(-0.06, 0.06), lon=-2.98 + rng.uniform(-0.1, 0.1)) if geo
        else PlanePoint(x=rng.uniform(0, 100), y=rng.uniform(0, 100)) for _ in range(n)]
    events = _random_traffic(rng, geo, rng.randint(0, 4))
    model = StraightLineTravel(speed_kmh=rng.uniform(15, 60), plane_units_per_second=rng.uniform(0.5, 2))
    matrix = model.matrix(locations, events)
    ref_seconds, ref_distance = _ref_matrix(model, locations, events)
    np.testing.assert_allclose(matrix.seconds, ref_seconds, rtol=1e-6, atol=0)
    np.testing.assert_allclose(matrix.distance, ref_distance, rtol=1e-6, atol=0)
    assert not matrix.seconds.diagonal().any() and not matrix.seconds.flags.writeable
