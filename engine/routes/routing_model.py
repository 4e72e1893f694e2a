"""RoutingModel: the OR-Tools model of a Problem, shared by the check and the solver."""

from __future__ import annotations

import itertools
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import pywrapcp

from engine.routes.plan import Plan
from engine.routes.problem import TIME_SCALE, Problem

# Dropping an order costs more than any detour, so the solver serves whatever it can.
DROP_PENALTY = 10_000_000_000

IntArray = npt.NDArray[np.int64]

# What is derived from one Problem object, by id, dropped when it is. Kept off the Problem itself: a Problem sent to
# a process pool is pickled, and a closed OR-Tools model does not pickle (nor should 20 MB of matrices travel along).
# Values must not refer back to their Problem, or it would never be dropped.
_derived: dict[int, dict[str, Any]] = {}


@dataclass(frozen=True)
class ScaledProblem:
    """The integers OR-Tools gets for a problem, by node: locations, then the open-route sink when there is one."""

    n_nodes: int
    sink: int  # -1 when every vehicle returns somewhere
    time: IntArray  # travel from i to j plus the service at i
    cost: IntArray  # travel from i to j under the objective
    demand: list[int]


def derived(problem: Problem) -> dict[str, Any]:
    """The cache of objects derived from this Problem object; it lives exactly as long as the problem."""
    key = id(problem)
    cache = _derived.get(key)
    if cache is None:
        # setdefault is atomic (no global lock, which a forked process-pool worker could inherit held).
        fresh: dict[str, Any] = {"lock": threading.RLock()}  # re-entrant: the check model is built under it
        cache = _derived.setdefault(key, fresh)
        if cache is fresh:
            weakref.finalize(problem, _derived.pop, key, None)
    return cache


def scaled_problem(problem: Problem) -> ScaledProblem:
    """The scaled integer matrices of a problem, computed once per Problem object (frozen, so never stale)."""
    cache = derived(problem)
    with cache["lock"]:
        if "scaled" not in cache:
            cache["scaled"] = _scale(problem)
        scaled: ScaledProblem = cache["scaled"]
    return scaled


def _scale(problem: Problem) -> ScaledProblem:
    n_locations = len(problem.locations)
    # Open routes end at an extra node that is free to reach; it exists only when needed, since OR-Tools
    # would otherwise require visiting it.
    open_routes = any(v.end is None for v in problem.vehicles)
    n_nodes = n_locations + int(open_routes)
    stop_at = {s.location: s for s in problem.stops}  # a dict, so a shared location keeps its last stop as before
    service = np.zeros(n_nodes, dtype=np.int64)
    service[:n_locations] = _rint([stop_at[i].service_s if i in stop_at else 0.0 for i in range(n_locations)])
    seconds = _padded(problem.seconds, n_locations, n_nodes)
    cost = seconds if problem.objective == "seconds" else _padded(problem.distance, n_locations, n_nodes)
    time = seconds + service[:, None]
    for matrix in (seconds, cost, time):
        matrix.setflags(write=False)
    demand = [stop_at[i].demand if i in stop_at else 0 for i in range(n_nodes)]
    return ScaledProblem(n_nodes, n_locations if open_routes else -1, time, cost, demand)


def _rint(values: Any) -> IntArray:
    # np.rint rounds half to even, like the builtin round() the model used before: the same integers.
    return np.rint(np.asarray(values, dtype=np.float64) * TIME_SCALE).astype(np.int64)


def _padded(table: Any, n_locations: int, n_nodes: int) -> IntArray:
    """A scaled travel matrix with a zero row and column for the sink (none when n_nodes == n_locations)."""
    out = np.zeros((n_nodes, n_nodes), dtype=np.int64)
    out[:n_locations, :n_locations] = _rint(table).reshape(n_locations, n_locations)
    return out


@dataclass
class RoutingModel:
    """The OR-Tools objects for a problem, with node numbering: locations, then one shared open-route end."""

    # Vehicle ids, not the Problem: a model cached on its Problem must not point back at it (no reference cycle).
    vehicle_ids: tuple[str, ...]
    manager: Any
    routing: Any
    time: Any
    sink: int
    stop_nodes: dict[str, int]

    def routes_for(self, plan: Plan) -> list[list[int]]:
        """A plan as OR-Tools routes (node indices per vehicle); caller ensures ids are known."""
        by_vehicle = plan.as_dict()
        return [[self.manager.NodeToIndex(self.stop_nodes[o]) for o in by_vehicle.get(v, ())]
                for v in self.vehicle_ids]

    def plan_from(self, solution: Any) -> Plan:
        """The plan a solution of this model describes."""
        routes: dict[str, list[str]] = {}
        node_to_order = {node: order for order, node in self.stop_nodes.items()}
        for v_index, vehicle_id in enumerate(self.vehicle_ids):
            index = self.routing.Start(v_index)
            orders: list[str] = []
            while not self.routing.IsEnd(index):
                node = self.manager.IndexToNode(index)
                if node in node_to_order:
                    orders.append(node_to_order[node])
                index = solution.Value(self.routing.NextVar(index))
            if orders:
                routes[vehicle_id] = orders
        return Plan.of(routes)


def build_routing_model(
    problem: Problem, *, previous: Plan | None = None, stability_cost: float = 0.0
) -> RoutingModel:
    """Capacity, time windows, shift ends, starts at current positions, committed stops first, drops allowed."""
    scaled = scaled_problem(problem)
    sink = scaled.sink
    starts = [v.start for v in problem.vehicles]
    ends = [v.end if v.end is not None else sink for v in problem.vehicles]
    manager = pywrapcp.RoutingIndexManager(scaled.n_nodes, len(problem.vehicles), starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    stop_nodes = {s.order_id: s.location for s in problem.stops}

    # Matrices and vectors registered with OR-Tools are evaluated in C++: a Python callback per arc made the
    # search ~10x slower (measured: 80% of a backtest's time in arc_cost/IndexToNode).
    time_callback = routing.RegisterTransitMatrix(scaled.time.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(scaled.cost.tolist()))
    penalty = round(stability_cost * TIME_SCALE)
    if penalty and previous is not None:
        _add_stability(routing, problem, previous, penalty, scaled.n_nodes)

    routing.AddDimensionWithVehicleCapacity(
        routing.RegisterUnaryTransitVector(scaled.demand), 0, [v.capacity for v in problem.vehicles], True, "load"
    )
    horizon = int(max([v.shift_end for v in problem.vehicles] + [s.window_end for s in problem.stops] + [1])
                  * TIME_SCALE) + 1
    routing.AddDimension(time_callback, horizon, horizon, False, "time")
    time = routing.GetDimensionOrDie("time")
    for stop in problem.stops:
        index = manager.NodeToIndex(stop.location)
        start = round(stop.window_start * TIME_SCALE)
        end = round(stop.window_end * TIME_SCALE)
        routing.AddDisjunction([index], DROP_PENALTY * (1 + stop.priority))
        if end < 0 or start > horizon:
            routing.ActiveVar(index).SetValue(0)  # the window has closed (or opens after every shift): never served
        else:
            time.CumulVar(index).SetRange(max(start, 0), min(end, horizon))
    for v_index, vehicle in enumerate(problem.vehicles):
        begin = round(vehicle.available_from * TIME_SCALE)
        time.CumulVar(routing.Start(v_index)).SetRange(begin, begin)
        time.CumulVar(routing.End(v_index)).SetRange(0, max(round(vehicle.shift_end * TIME_SCALE), begin))
        routing.AddVariableMinimizedByFinalizer(time.CumulVar(routing.End(v_index)))
        if vehicle.committed:
            chain = [routing.Start(v_index)] + [manager.NodeToIndex(stop_nodes[o]) for o in vehicle.committed]
            for before, after in itertools.pairwise(chain):
                routing.solver().Add(routing.NextVar(before) == after)
    vehicle_ids = tuple(v.vehicle_id for v in problem.vehicles)
    return RoutingModel(vehicle_ids, manager, routing, time, sink, stop_nodes)


def moved_vectors(problem: Problem, previous: Plan, n_nodes: int) -> tuple[list[IntArray], IntArray]:
    """Per vehicle: 1 at orders another present vehicle served in previous; for all: 1 where that vehicle is gone."""
    # New orders (no previous vehicle) are 0 in both: serving them moves nothing.
    vehicle_ids = {v.vehicle_id for v in problem.vehicles}
    kept = np.zeros(n_nodes, dtype=np.int64)  # orders whose previous vehicle is still here
    gone = np.zeros(n_nodes, dtype=np.int64)
    own: dict[str, list[int]] = {}
    for order_id, owner in previous.vehicle_of().items():
        stop = problem.stop(order_id)
        if stop is None:
            continue
        if owner in vehicle_ids:
            kept[stop.location] = 1
            own.setdefault(owner, []).append(stop.location)
        else:
            gone[stop.location] = 1
    by_vehicle = []
    for vehicle in problem.vehicles:
        vector = kept.copy()
        vector[own.get(vehicle.vehicle_id, [])] = 0  # its own orders of last cycle are not moved onto it
        by_vehicle.append(vector)
    return by_vehicle, gone


def _add_stability(routing: Any, problem: Problem, previous: Plan, penalty: int, n_nodes: int) -> None:
    """Charge `penalty` per order moved onto a vehicle: the spans of "moved" dimensions count them."""
    # Vehicles with equal vectors share one: O(vehicles x nodes) at most, where a cost matrix each was x nodes².
    by_vehicle, gone = moved_vectors(problem, previous, n_nodes)
    if any(vector.any() for vector in by_vehicle):
        registered: dict[bytes, int] = {}
        evaluators = []
        for vector in by_vehicle:
            key = vector.tobytes()
            if key not in registered:
                registered[key] = routing.RegisterUnaryTransitVector(vector.tolist())
            evaluators.append(registered[key])
        routing.AddDimensionWithVehicleTransits(evaluators, 0, n_nodes, True, "moved")
        routing.GetDimensionOrDie("moved").SetSpanCostCoefficientForAllVehicles(penalty)
    if gone.any():
        # Apart, with one evaluator: OR-Tools cannot leave out a node whose vehicle-dependent transit is nonzero
        # for every vehicle (measured: ReadAssignmentFromRoutes then rejects any plan that drops it).
        routing.AddDimension(routing.RegisterUnaryTransitVector(gone.tolist()), 0, n_nodes, True, "moved_from_gone")
        routing.GetDimensionOrDie("moved_from_gone").SetSpanCostCoefficientForAllVehicles(penalty)
