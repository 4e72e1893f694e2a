"""Small route problems on a plane, built directly (times = distances, in seconds)."""

from __future__ import annotations

from engine.routes.problem import Problem, Stop, Vehicle
from engine.routes.travel import StraightLineTravel
from schemas import PlanePoint
from tests.factories import T0


def line_problem(*, capacity: int = 10, shift_end: float = 1000.0,
                 windows: dict[str, tuple[float, float]] | None = None,
                 committed: tuple[str, ...] = (), demand: int = 2) -> Problem:
    """Two vehicles at x=0 and x=100; orders a..d at x=10, 20, 90, 80 on the same line."""
    windows = windows or {}
    points = [PlanePoint(x=0, y=0), PlanePoint(x=100, y=0),
              PlanePoint(x=10, y=0), PlanePoint(x=20, y=0), PlanePoint(x=90, y=0), PlanePoint(x=80, y=0)]
    matrix = StraightLineTravel().matrix(points, [])
    stops = tuple(
        Stop(order_id=name, location=index + 2, demand=demand, window_start=windows.get(name, (0, 10_000))[0],
             window_end=windows.get(name, (0, 10_000))[1], service_s=5)
        for index, name in enumerate("abcd")
    )
    vehicles = (
        Vehicle("west", start=0, end=None, capacity=capacity, available_from=0, shift_end=shift_end,
                committed=committed),
        Vehicle("east", start=1, end=None, capacity=capacity, available_from=0, shift_end=shift_end),
    )
    return Problem(fleet_id="f", at=T0, locations=tuple(points), seconds=matrix.seconds, distance=matrix.distance,
                   stops=stops, vehicles=vehicles)
