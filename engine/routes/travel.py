"""TravelModel: travel times and distances between locations, with live traffic applied."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from schemas import CircleArea, GeoPoint, Location, PlanePoint, SegmentArea, TrafficEvent

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class TravelMatrix:
    """seconds[i][j] and distance[i][j] between every pair of locations (distance in metres or plane units)."""

    seconds: tuple[tuple[float, ...], ...]
    distance: tuple[tuple[float, ...], ...]


class TravelModel(Protocol):
    """Where travel times come from; a road-network matrix (OSRM, Valhalla) can implement this too."""

    def matrix(self, locations: Sequence[Location], traffic: Sequence[TrafficEvent]) -> TravelMatrix:
        """Travel times with the given traffic in force, and distances, between all locations."""
        ...


def haversine_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance in metres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(h, 1.0)))


def _distance(a: Location, b: Location) -> float:
    if isinstance(a, GeoPoint) and isinstance(b, GeoPoint):
        return haversine_m(a, b)
    if isinstance(a, PlanePoint) and isinstance(b, PlanePoint):
        return math.hypot(a.x - b.x, a.y - b.y)
    raise ValueError("a problem mixes lat/lon and x/y locations")


def _midpoint(a: Location, b: Location) -> Location:
    if isinstance(a, GeoPoint) and isinstance(b, GeoPoint):
        return GeoPoint(lat=(a.lat + b.lat) / 2, lon=(a.lon + b.lon) / 2)
    assert isinstance(a, PlanePoint) and isinstance(b, PlanePoint)
    return PlanePoint(x=(a.x + b.x) / 2, y=(a.y + b.y) / 2)


def _near_segment(point: Location, area: SegmentArea) -> bool:
    # Project onto the segment in a local flat frame (fine at city scale).
    start, end = area.start, area.end
    length = _distance(start, end)
    if length == 0:
        return _distance(point, start) <= area.width_m
    to_start, to_end = _distance(point, start), _distance(point, end)
    # Heron: distance of the point from the line through start and end.
    s = (length + to_start + to_end) / 2
    height = 2 * math.sqrt(max(s * (s - length) * (s - to_start) * (s - to_end), 0.0)) / length
    within = to_start**2 <= length**2 + to_end**2 and to_end**2 <= length**2 + to_start**2
    return within and height <= area.width_m


def slowdown(a: Location, b: Location, traffic: Sequence[TrafficEvent]) -> float:
    """The speed factor on the leg a→b: the slowest event whose area holds an end or the midpoint."""
    factor = 1.0
    points = (a, b, _midpoint(a, b))
    for event in traffic:
        area = event.area
        if isinstance(area, CircleArea):
            hit = any(_distance(p, area.center) <= area.radius_m for p in points)
        elif isinstance(area, SegmentArea):
            hit = any(_near_segment(p, area) for p in points)
        else:
            hit = False  # zones need a zone map, which this model does not have
        if hit:
            factor = min(factor, event.speed_factor)
    return factor


@dataclass(frozen=True)
class StraightLineTravel:
    """Straight-line distance at a constant speed (km/h for lat/lon, units per second for x/y), traffic applied.

    Rule: a leg is slowed by the lowest speed factor among traffic areas that contain its start, its end or
    its midpoint; travel time is divided by that factor.
    """

    speed_kmh: float = 30.0
    plane_units_per_second: float = 1.0
    detour_factor: float = 1.3  # roads are longer than straight lines (lat/lon only)

    def matrix(self, locations: Sequence[Location], traffic: Sequence[TrafficEvent]) -> TravelMatrix:
        n = len(locations)
        seconds = [[0.0] * n for _ in range(n)]
        distance = [[0.0] * n for _ in range(n)]
        for i, a in enumerate(locations):
            for j, b in enumerate(locations):
                if i == j:
                    continue
                d = _distance(a, b)
                if isinstance(a, GeoPoint):
                    d *= self.detour_factor
                    free_flow = d / (self.speed_kmh / 3.6)
                else:
                    free_flow = d / self.plane_units_per_second
                distance[i][j] = d
                seconds[i][j] = free_flow / slowdown(a, b, traffic) if traffic else free_flow
        return TravelMatrix(tuple(map(tuple, seconds)), tuple(map(tuple, distance)))
