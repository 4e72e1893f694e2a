"""PyVrpImprover: PyVRP's iterated local search as a stronger improver; OR-Tools still checks its plans."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

from engine.routes.plan import Plan
from engine.routes.problem import TIME_SCALE, Problem, Stop, Vehicle

UNREACHABLE = 10**12  # edges out of the open-route sink: never used
DROP_PRIZE = 10**7  # an optional order is worth more than any detour (objective units x TIME_SCALE)
TOLERANCE_S = 1e-6  # as the check's: a committed stop this late still counts as on time


@dataclass(frozen=True)
class _Free:
    """Where and when a vehicle becomes free for new orders, once its committed stops are done."""

    vehicle: Vehicle
    start: int
    begin: float
    capacity: int
    begin_scaled: int  # PyVRP's start time

    def end(self, sink: int) -> int:
        return self.vehicle.end if self.vehicle.end is not None else sink

    def key(self) -> tuple[int, int | None, int, float, float]:
        return self.start, self.vehicle.end, self.capacity, self.begin, self.vehicle.shift_end


@dataclass(frozen=True)
class _Model:
    """The PyVRP data for a problem and how its clients and vehicle types map back to orders and vehicles."""

    data: pyvrp.ProblemData
    served: tuple[Stop, ...]
    type_members: tuple[tuple[str, ...], ...]

    def client_index(self) -> dict[str, int]:
        return {stop.order_id: i for i, stop in enumerate(self.served)}

    def vehicle_type(self) -> dict[str, int]:
        return {vid: t for t, ids in enumerate(self.type_members) for vid in ids}


class PyVrpImprover:
    """Solves a Problem with PyVRP; committed stops stay first, PyVRP plans what follows them."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def supports(self, problem: Problem) -> bool:
        return bool(problem.stops) and bool(problem.vehicles)

    def improve(self, problem: Problem, *, time_limit_s: float, iterations: int | None = None,
                initial: Plan | None = None) -> Plan | None:
        """The best feasible plan PyVRP finds in time_limit_s (or in `iterations`), or None if there is none.

        With `iterations` the search is reproducible (seeded, fixed work); time_limit_s then only caps a runaway.
        `initial` warm-starts the search; a plan that does not convert is ignored.
        """
        if not self.supports(problem):
            return None
        free = [f for f in (_free_after_committed(problem, v) for v in problem.vehicles) if f is not None]
        committed = {v.vehicle_id: list(v.committed) for v in problem.vehicles if v.committed}
        promised = {o for orders in committed.values() for o in orders}
        offered = [stop for stop in problem.stops if stop.order_id not in promised]
        if not free or not offered:  # nothing for PyVRP to decide: only the promises remain
            return Plan.of(committed)
        model = build_model(problem, free, offered)
        if not model.served:
            return Plan.of(committed)
        stopping: StoppingCriterion = (
            MaxRuntime(time_limit_s) if iterations is None
            else MultipleCriteria([MaxIterations(iterations), MaxRuntime(time_limit_s)]))
        warm = to_solution(model, initial) if initial is not None else None
        best = pyvrp.solve(model.data, stopping, seed=self.seed, display=False, initial_solution=warm).best
        if not best.is_feasible():
            return None
        previous = initial.as_dict() if initial is not None else {}
        unused = [list(ids) for ids in model.type_members]
        routes = dict(committed)
        for route in best.routes():
            orders = [model.served[activity.idx].order_id for activity in route.schedule() if activity.is_client()]
            if not orders:
                continue
            members = unused[route.vehicle_type()]
            # Vehicles of one type are interchangeable: keep each route on the vehicle that had most of it.
            mine = set(orders)
            vehicle_id = max(members, key=lambda vid: len(mine.intersection(previous.get(vid, ()))))
            members.remove(vehicle_id)
            routes[vehicle_id] = committed.get(vehicle_id, []) + orders
        return Plan.of(routes)


def build_model(problem: Problem, free: list[_Free], offered: list[Stop]) -> _Model:
    """PyVRP's ProblemData straight from numpy matrices: a depot per start or end, a vehicle type per free state."""
    all_required = problem.objective == "distance"  # benchmarks must serve everyone
    seconds = np.asarray(problem.seconds, dtype=np.float64)
    cost = np.asarray(problem.distance, dtype=np.float64) if problem.objective == "distance" else seconds
    n = len(problem.locations)
    open_routes = any(f.vehicle.end is None for f in free)
    sink = n if open_routes else -1
    # PyVRP's coordinates only label locations; the matrices carry every distance.
    locations = [pyvrp.Location(float(i), 0.0) for i in range(n + int(open_routes))]
    depot_locations = sorted({f.start for f in free} | {f.end(sink) for f in free})
    depot_index = {loc: i for i, loc in enumerate(depot_locations)}
    depots = [pyvrp.Depot(location=loc) for loc in depot_locations]
    reachable = np.ones(len(offered), dtype=bool) if all_required else _reachable(seconds, free, offered)
    served = tuple(stop for stop, ok in zip(offered, reachable, strict=True) if ok)
    clients = [
        pyvrp.Client(location=stop.location, delivery=[stop.demand], service_duration=_scaled(stop.service_s),
                     tw_early=_scaled(max(stop.window_start, 0.0)), tw_late=max(_scaled(stop.window_end), 0),
                     required=all_required, prize=0 if all_required else DROP_PRIZE * (1 + stop.priority))
        for stop in served
    ]
    groups: dict[tuple[int, int | None, int, float, float], list[_Free]] = {}
    for f in free:
        groups.setdefault(f.key(), []).append(f)
    vehicle_types = [
        pyvrp.VehicleType(len(members), capacity=[f.capacity], start_depot=depot_index[f.start],
                          end_depot=depot_index[f.end(sink)], tw_early=f.begin_scaled,
                          tw_late=max(_scaled(f.vehicle.shift_end), f.begin_scaled))
        for f, members in ((members[0], members) for members in groups.values())
    ]
    distance, duration = _matrix(cost, open_routes), _matrix(seconds, open_routes)
    # PyVRP's stub spells a matrix np.ndarray[int], which no real array type matches.
    data = pyvrp.ProblemData(locations, clients, depots, vehicle_types, [distance], [duration])  # type: ignore[list-item]
    return _Model(data, served, tuple(tuple(f.vehicle.vehicle_id for f in members) for members in groups.values()))


def to_solution(model: _Model, plan: Plan) -> pyvrp.Solution | None:
    """plan as a PyVRP solution (unknown, duplicate and committed orders dropped), or None if it does not convert."""
    clients, types = model.client_index(), model.vehicle_type()
    seen_orders: set[str] = set()
    seen_vehicles: set[str] = set()
    routes = []
    for vehicle_id, orders in plan.routes:
        if vehicle_id not in types or vehicle_id in seen_vehicles:
            continue
        seen_vehicles.add(vehicle_id)
        visits = []
        for order_id in orders:
            if order_id in clients and order_id not in seen_orders:
                seen_orders.add(order_id)
                visits.append(clients[order_id])
        if visits:
            routes.append((visits, types[vehicle_id]))
    if not routes:  # an empty start is worse than PyVRP's own random one
        return None
    try:
        return pyvrp.Solution(model.data, [pyvrp.Route(model.data, visits, t) for visits, t in routes])
    except (ValueError, RuntimeError):
        return None


def _free_after_committed(problem: Problem, vehicle: Vehicle) -> _Free | None:
    """Where and when vehicle is free after its committed stops, or None if they cannot all be kept."""
    time, load, here = vehicle.available_from, 0, vehicle.start
    for order_id in vehicle.committed:
        stop = problem.stop(order_id)
        if stop is None:
            return None
        start = max(time + float(problem.seconds[here][stop.location]), stop.window_start)
        if start > stop.window_end + TOLERANCE_S:
            return None
        load += stop.demand
        time, here = start + stop.service_s, stop.location
    back = float(problem.seconds[here][vehicle.end]) if vehicle.end is not None else 0.0
    if load > vehicle.capacity or (vehicle.committed and time + back > vehicle.shift_end + TOLERANCE_S):
        return None
    # Rounded up after committed stops so PyVRP never plans the rest earlier than the check will.
    begin = _scaled_up(time) if vehicle.committed else _scaled(time)
    return _Free(vehicle, here, time, vehicle.capacity - load, begin)


def _reachable(seconds: npt.NDArray[np.float64], free: list[_Free], stops: list[Stop]) -> npt.NDArray[np.bool_]:
    """Per stop: some vehicle could carry it and get there before its window closes (else PyVRP only warps time)."""
    starts = np.array([f.start for f in free], dtype=np.intp)
    begin = np.array([f.begin for f in free], dtype=np.float64)
    capacity = np.array([f.capacity for f in free], dtype=np.int64)
    where = np.array([s.location for s in stops], dtype=np.intp)
    demand = np.array([s.demand for s in stops], dtype=np.int64)
    window_end = np.array([s.window_end for s in stops], dtype=np.float64)
    on_time = begin[:, None] + seconds[np.ix_(starts, where)] <= window_end[None, :]
    fits = demand[None, :] <= capacity[:, None]
    return np.asarray((on_time & fits).any(axis=0), dtype=np.bool_)


def _matrix(values: npt.NDArray[np.float64], open_routes: bool) -> npt.NDArray[np.int64]:
    """values scaled to integers, zero diagonal; with open routes a last row/column for the sink."""
    n = values.shape[0]
    scaled = np.zeros((n + int(open_routes), n + int(open_routes)), dtype=np.int64)
    scaled[:n, :n] = np.rint(values * TIME_SCALE)  # round half to even, as round() in _scaled
    np.fill_diagonal(scaled, 0)
    if open_routes:
        scaled[n, :n] = UNREACHABLE  # leaving the sink: never; reaching it: free
    return scaled


def _scaled(value: float) -> int:
    return round(value * TIME_SCALE)


def _scaled_up(value: float) -> int:
    """value scaled and rounded up, so a committed chain's end is never planned earlier than it is."""
    return math.ceil(round(value * TIME_SCALE, 6))
