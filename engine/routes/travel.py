"""TravelModel: travel times and distances between locations, with live traffic applied (numpy arrays)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from schemas import CircleArea, GeoPoint, Location, PlanePoint, SegmentArea, TrafficEvent

EARTH_RADIUS_M = 6_371_008.8
Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TravelMatrix:
    """seconds[i, j] and distance[i, j] between every pair of locations (metres or plane units), read-only."""

    seconds: Matrix
    distance: Matrix


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


class Points:
    """Locations as coordinate arrays: (lat, lon) in degrees for lat/lon points, (x, y) for plane points."""

    def __init__(self, first: Matrix, second: Matrix, geo: bool) -> None:
        self.first, self.second, self.geo = first, second, geo

    @classmethod
    def of(cls, locations: Sequence[Location]) -> Points:
        geo = all(isinstance(p, GeoPoint) for p in locations)
        if not geo and not all(isinstance(p, PlanePoint) for p in locations):
            raise ValueError("a problem mixes lat/lon and x/y locations")
        pairs = [(p.lat, p.lon) if isinstance(p, GeoPoint) else (p.x, p.y) for p in locations]
        coords = np.asarray(pairs, dtype=np.float64).reshape(len(pairs), 2)
        return cls(coords[:, 0], coords[:, 1], geo)

    def point(self, location: Location) -> tuple[float, float]:
        """One location of the same kind as these points (ValueError if it is of the other kind)."""
        if isinstance(location, GeoPoint) and self.geo:
            return location.lat, location.lon
        if isinstance(location, PlanePoint) and not self.geo:
            return location.x, location.y
        raise ValueError("a problem mixes lat/lon and x/y locations")


def _distance(geo: bool, a1: Matrix, a2: Matrix, b1: Matrix | float, b2: Matrix | float) -> Matrix:
    """Element-wise distance between points a and b (broadcast); haversine metres or Euclidean units."""
    if not geo:
        return np.asarray(np.hypot(np.subtract(a1, b1), np.subtract(a2, b2)), dtype=np.float64)
    lat1, lat2 = np.radians(a1), np.radians(b1)
    dlat, dlon = lat2 - lat1, np.radians(np.subtract(b2, a2))
    h = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0))), dtype=np.float64)


def _near_segment(to_start: Matrix, to_end: Matrix, length: float, width: float) -> npt.NDArray[np.bool_]:
    """Within `width` of the segment, measured in a local flat frame from the two end distances (Heron)."""
    if length == 0:
        return np.asarray(to_start <= width)
    s = (length + to_start + to_end) / 2
    height = 2 * np.sqrt(np.maximum(s * (s - length) * (s - to_start) * (s - to_end), 0.0)) / length
    within = (to_start**2 <= length**2 + to_end**2) & (to_end**2 <= length**2 + to_start**2)
    return np.asarray(within & (height <= width))


def _area_hits(points: Points, event: TrafficEvent) -> npt.NDArray[np.bool_] | None:
    """Legs i→j whose start, end or midpoint lies in the event's area (None: this model cannot place it)."""
    area = event.area
    mid1 = (points.first[:, None] + points.first[None, :]) / 2
    mid2 = (points.second[:, None] + points.second[None, :]) / 2

    def hits_at(inside: npt.NDArray[np.bool_], inside_mid: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        return np.asarray(inside[:, None] | inside[None, :] | inside_mid)

    if isinstance(area, CircleArea):
        c1, c2 = points.point(area.center)
        inside = _distance(points.geo, points.first, points.second, c1, c2) <= area.radius_m
        return hits_at(np.asarray(inside), np.asarray(_distance(points.geo, mid1, mid2, c1, c2) <= area.radius_m))
    if isinstance(area, SegmentArea):
        s1, s2 = points.point(area.start)
        e1, e2 = points.point(area.end)
        length = float(_distance(points.geo, np.array(s1), np.array(s2), e1, e2))
        near = _near_segment(_distance(points.geo, points.first, points.second, s1, s2),
                             _distance(points.geo, points.first, points.second, e1, e2), length, area.width_m)
        near_mid = _near_segment(_distance(points.geo, mid1, mid2, s1, s2), _distance(points.geo, mid1, mid2, e1, e2),
                                 length, area.width_m)
        return hits_at(near, near_mid)
    return None  # zones need a zone map, which this model does not have


def slowdown_matrix(points: Points, traffic: Sequence[TrafficEvent]) -> Matrix:
    """The speed factor of every leg: the slowest event whose area holds its start, end or midpoint."""
    n = len(points.first)
    factor = np.ones((n, n))
    for event in traffic:
        hits = _area_hits(points, event)
        if hits is not None:
            factor = np.where(hits, np.minimum(factor, event.speed_factor), factor)
    return factor


def slowdown(a: Location, b: Location, traffic: Sequence[TrafficEvent]) -> float:
    """The speed factor on the single leg a→b (the same rule as the matrix)."""
    return float(slowdown_matrix(Points.of([a, b]), traffic)[0, 1])


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
        points = Points.of(locations)
        one, two = points.first, points.second
        distance = _distance(points.geo, one[:, None], two[:, None], one[None, :], two[None, :])
        if points.geo:
            distance = distance * self.detour_factor
            seconds = distance / (self.speed_kmh / 3.6)
        else:
            seconds = distance / self.plane_units_per_second
        if traffic:
            seconds = seconds / slowdown_matrix(points, traffic)
        np.fill_diagonal(distance, 0.0)
        np.fill_diagonal(seconds, 0.0)
        distance.setflags(write=False)
        seconds.setflags(write=False)
        return TravelMatrix(seconds, distance)
