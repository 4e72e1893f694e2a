"""Problem: what one cycle must solve for one fleet — stops, vehicles and travel times at time `at`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np

from engine.routes.state import FleetState
from engine.routes.travel import Matrix, StraightLineTravel, TravelModel
from schemas import Location

# Seconds are the problem's time unit; OR-Tools needs integers, so times and costs are scaled by this.
TIME_SCALE = 100


@dataclass(frozen=True)
class Stop:
    """An open order to serve; times are seconds after the problem's `at`."""

    order_id: str
    location: int
    demand: int
    window_start: float
    window_end: float
    service_s: float
    priority: int = 0
    note: str = ""  # customer free text: data for the prompt, never instructions


@dataclass(frozen=True)
class Vehicle:
    """A vehicle available this cycle, starting where it is now."""

    vehicle_id: str
    start: int
    end: int | None  # a location to return to, or None for a route that may end anywhere
    capacity: int  # what is still free on board
    available_from: float  # seconds after `at` (0, or when the stop in progress is done)
    shift_end: float
    committed: tuple[str, ...] = ()  # orders promised next, in this order; every plan keeps them first


@dataclass(frozen=True, eq=False)  # identity equality and hash: arrays have no truth value, caches key on it
class Problem:
    """Everything a proposer, the check and the solver need, and nothing that changes during a cycle."""

    fleet_id: str
    at: datetime
    locations: tuple[Location, ...]
    seconds: Matrix  # (n, n) read-only float64 arrays, n = len(locations)
    distance: Matrix
    stops: tuple[Stop, ...]
    vehicles: tuple[Vehicle, ...]
    objective: str = "seconds"  # "seconds" (live fleets) or "distance" (benchmarks)

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the per-process caches (`_`-named: OR-Tools models, locks, lookups), e.g. for a pool."""
        return {name: value for name, value in self.__dict__.items() if not name.startswith("_")}

    def stop(self, order_id: str) -> Stop | None:
        return self._stops_by_id().get(order_id)

    def _stops_by_id(self) -> dict[str, Stop]:
        cached: dict[str, Stop] | None = self.__dict__.get("_by_id")
        if cached is None:
            cached = {s.order_id: s for s in self.stops}
            object.__setattr__(self, "_by_id", cached)
        return cached

    def vehicle(self, vehicle_id: str) -> Vehicle | None:
        return next((v for v in self.vehicles if v.vehicle_id == vehicle_id), None)

    def leg_cost(self, i: int, j: int) -> float:
        """Cost of travelling from location i to j under the problem's objective."""
        return float(self.distance[i, j] if self.objective == "distance" else self.seconds[i, j])

    @property
    def cost_matrix(self) -> Matrix:
        """The matrix the objective sums: distance (benchmarks) or seconds (live fleets)."""
        return self.distance if self.objective == "distance" else self.seconds

    def digest(self) -> str:
        """sha256 of the canonical problem: equal digests mean the same decision inputs."""
        canonical = {
            "fleet_id": self.fleet_id, "at": self.at.isoformat(), "objective": self.objective,
            "locations": [loc.model_dump() for loc in self.locations],
            "stops": [asdict(s) for s in self.stops], "vehicles": [asdict(v) for v in self.vehicles],
        }
        digest = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode())
        # Travel times to the millisecond, as little-endian float64 bytes: one pass over the array, no Python loop.
        digest.update(np.ascontiguousarray(np.round(self.seconds, 3), dtype="<f8").tobytes())
        return digest.hexdigest()


def build_problem(state: FleetState, at: datetime, travel: TravelModel | None = None) -> Problem:
    """The problem for state at time at: open orders, usable vehicles, traffic in force at `at`."""
    travel = travel or StraightLineTravel()
    vehicles_in = sorted((v for v in state.vehicles.values() if v.status != "offline"), key=lambda v: v.vehicle_id)
    orders = sorted((o for o in state.orders.values() if o.location is not None), key=lambda o: o.order_id)
    locations: list[Location] = [v.position for v in vehicles_in]
    open_ids = {o.order_id for o in orders}

    stops = []
    for order in orders:
        assert order.location is not None and order.time_window is not None
        locations.append(order.location)
        stops.append(Stop(
            order_id=order.order_id, location=len(locations) - 1, demand=order.demand or 0,
            window_start=max((order.time_window.start - at).total_seconds(), 0.0),
            window_end=(order.time_window.end - at).total_seconds(),
            service_s=order.service_time_s, priority=order.priority, note=order.note,
        ))

    vehicles = []
    for index, v in enumerate(vehicles_in):
        committed = tuple(o for o in ([v.current_stop] if v.current_stop else []) + v.committed_stops if o in open_ids)
        vehicles.append(Vehicle(
            vehicle_id=v.vehicle_id, start=index, end=None, capacity=max(v.capacity - v.load, 0),
            available_from=0.0, shift_end=(v.shift.end - at).total_seconds(), committed=committed,
        ))
    matrix = travel.matrix(locations, state.active_traffic(at))
    return Problem(
        fleet_id=state.fleet_id, at=at, locations=tuple(locations), seconds=matrix.seconds,
        distance=matrix.distance, stops=tuple(stops), vehicles=tuple(vehicles),
    )
