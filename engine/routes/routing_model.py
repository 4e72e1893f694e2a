"""RoutingModel: the OR-Tools model of a Problem, shared by the check and the solver."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from ortools.constraint_solver import pywrapcp

from engine.routes.plan import Plan
from engine.routes.problem import TIME_SCALE, Problem

# Dropping an order costs more than any detour, so the solver serves whatever it can.
DROP_PENALTY = 10_000_000_000


@dataclass
class RoutingModel:
    """The OR-Tools objects for a problem, with node numbering: locations, then one shared open-route end."""

    problem: Problem
    manager: Any
    routing: Any
    time: Any
    sink: int
    stop_nodes: dict[str, int]

    def routes_for(self, plan: Plan) -> list[list[int]]:
        """A plan as OR-Tools routes (node indices per vehicle); caller ensures ids are known."""
        by_vehicle = plan.as_dict()
        return [
            [self.manager.NodeToIndex(self.stop_nodes[o]) for o in by_vehicle.get(v.vehicle_id, ())]
            for v in self.problem.vehicles
        ]

    def plan_from(self, solution: Any) -> Plan:
        routes: dict[str, list[str]] = {}
        node_to_order = {node: order for order, node in self.stop_nodes.items()}
        for v_index, vehicle in enumerate(self.problem.vehicles):
            index = self.routing.Start(v_index)
            orders: list[str] = []
            while not self.routing.IsEnd(index):
                node = self.manager.IndexToNode(index)
                if node in node_to_order:
                    orders.append(node_to_order[node])
                index = solution.Value(self.routing.NextVar(index))
            if orders:
                routes[vehicle.vehicle_id] = orders
        return Plan.of(routes)


def build_routing_model(
    problem: Problem, *, previous: Plan | None = None, stability_cost: float = 0.0
) -> RoutingModel:
    """Capacity, time windows, shift ends, starts at current positions, committed stops first, drops allowed."""
    n_locations = len(problem.locations)
    # Open routes end at an extra node that is free to reach; it exists only when needed, since OR-Tools
    # would otherwise require visiting it.
    open_routes = any(v.end is None for v in problem.vehicles)
    sink = n_locations if open_routes else -1
    starts = [v.start for v in problem.vehicles]
    ends = [v.end if v.end is not None else sink for v in problem.vehicles]
    manager = pywrapcp.RoutingIndexManager(n_locations + int(open_routes), len(problem.vehicles), starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    stop_at = {s.location: s for s in problem.stops}
    stop_nodes = {s.order_id: s.location for s in problem.stops}

    # Matrices and vectors registered with OR-Tools are evaluated in C++: a Python callback per arc made the
    # search ~10x slower (measured: 80% of a backtest's time in arc_cost/IndexToNode).
    n_nodes = n_locations + int(open_routes)
    service = [round(stop_at[i].service_s * TIME_SCALE) if i in stop_at else 0 for i in range(n_nodes)]

    def scaled(table: tuple[tuple[float, ...], ...]) -> list[list[int]]:
        return [[0 if i == sink or j == sink else round(table[i][j] * TIME_SCALE) for j in range(n_nodes)]
                for i in range(n_nodes)]

    seconds = scaled(problem.seconds)
    time_callback = routing.RegisterTransitMatrix([[leg + service[i] for leg in row] for i, row in enumerate(seconds)])
    cost = seconds if problem.objective == "seconds" else scaled(problem.distance)
    previous_vehicle = previous.vehicle_of() if previous else {}
    penalty = round(stability_cost * TIME_SCALE)
    shared_cost = routing.RegisterTransitMatrix(cost)
    for v_index, vehicle in enumerate(problem.vehicles):
        # Moving an order to another vehicle than last cycle costs `penalty` on every arc into it.
        moved = [j for j, stop in stop_at.items()
                 if previous_vehicle.get(stop.order_id, vehicle.vehicle_id) != vehicle.vehicle_id]
        if penalty and moved:
            own = [list(row) for row in cost]
            for row in own:
                for j in moved:
                    row[j] += penalty
            routing.SetArcCostEvaluatorOfVehicle(routing.RegisterTransitMatrix(own), v_index)
        else:
            routing.SetArcCostEvaluatorOfVehicle(shared_cost, v_index)

    demand = [stop_at[i].demand if i in stop_at else 0 for i in range(n_nodes)]
    routing.AddDimensionWithVehicleCapacity(
        routing.RegisterUnaryTransitVector(demand), 0, [v.capacity for v in problem.vehicles], True, "load"
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
    return RoutingModel(problem, manager, routing, time, sink, stop_nodes)
