"""PyVrpImprover: PyVRP's iterated local search as a stronger improver; OR-Tools still checks its plans."""

from __future__ import annotations

from collections import defaultdict

import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

from engine.routes.plan import Plan
from engine.routes.problem import TIME_SCALE, Problem, Stop

UNREACHABLE = 10**12  # edges out of the open-route sink: never used
DROP_PRIZE = 10**7  # an optional order is worth more than any detour (objective units x TIME_SCALE)


class PyVrpImprover:
    """Solves a Problem with PyVRP; skips problems with committed stops, which PyVRP cannot pin first."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def supports(self, problem: Problem) -> bool:
        return bool(problem.stops) and not any(v.committed for v in problem.vehicles)

    def improve(self, problem: Problem, *, time_limit_s: float, iterations: int | None = None) -> Plan | None:
        """The best feasible plan PyVRP finds in time_limit_s (or in `iterations`), or None if there is none.

        With `iterations` the search is reproducible (seeded, fixed work); time_limit_s then only caps a runaway.
        """
        if not self.supports(problem):
            return None
        model = pyvrp.Model()
        all_required = problem.objective == "distance"  # benchmarks must serve everyone
        open_routes = any(v.end is None for v in problem.vehicles)
        points = [model.add_location(float(i), 0.0) for i in range(len(problem.locations) + int(open_routes))]
        sink = len(problem.locations) if open_routes else -1
        # A location is a depot when a vehicle starts or ends there; a client activity's idx is its client number.
        depot_locations = sorted({v.start for v in problem.vehicles} | {v.end if v.end is not None else sink
                                                                         for v in problem.vehicles})
        depots = {loc: model.add_depot(points[loc]) for loc in depot_locations}
        served = [stop for stop in problem.stops if all_required or _reachable(problem, stop)]
        for stop in served:
            model.add_client(
                points[stop.location], delivery=[stop.demand], service_duration=_scaled(stop.service_s),
                tw_early=_scaled(max(stop.window_start, 0.0)), tw_late=max(_scaled(stop.window_end), 0),
                required=all_required, prize=0 if all_required else DROP_PRIZE * (1 + stop.priority),
            )
        groups: dict[tuple[int, int, int, float, float], list[str]] = defaultdict(list)
        for v in problem.vehicles:
            groups[(v.start, v.end if v.end is not None else sink, v.capacity, v.available_from, v.shift_end)].append(
                v.vehicle_id)
        type_members = []
        for (start, end, capacity, begin, shift_end), ids in groups.items():
            model.add_vehicle_type(len(ids), capacity=[capacity], start_depot=depots[start], end_depot=depots[end],
                                   tw_early=_scaled(begin), tw_late=max(_scaled(shift_end), _scaled(begin)))
            type_members.append(ids)
        cost = problem.distance if problem.objective == "distance" else problem.seconds
        for i, a in enumerate(points):
            for j, b in enumerate(points):
                if i == sink:
                    model.add_edge(a, b, UNREACHABLE if j != sink else 0, UNREACHABLE if j != sink else 0)
                elif j == sink or i == j:
                    model.add_edge(a, b, 0, 0)
                else:
                    model.add_edge(a, b, _scaled(cost[i][j]), _scaled(problem.seconds[i][j]))
        stopping: StoppingCriterion = (
            MaxRuntime(time_limit_s) if iterations is None
            else MultipleCriteria([MaxIterations(iterations), MaxRuntime(time_limit_s)]))
        result = model.solve(stopping, seed=self.seed, display=False)
        best = result.best
        if not best.is_feasible():
            return None
        routes: dict[str, list[str]] = {}
        unused = [list(ids) for ids in type_members]
        for route in best.routes():
            vehicle_id = unused[route.vehicle_type()].pop(0)
            orders = [served[activity.idx].order_id
                      for activity in route.schedule() if activity.is_client()]
            if orders:
                routes[vehicle_id] = orders
        return Plan.of(routes)


def _reachable(problem: Problem, stop: Stop) -> bool:
    """Some vehicle could carry it and get there before its window closes (else PyVRP only warps time)."""
    return any(
        stop.demand <= v.capacity and v.available_from + problem.seconds[v.start][stop.location] <= stop.window_end
        for v in problem.vehicles
    )


def _scaled(value: float) -> int:
    return round(value * TIME_SCALE)
