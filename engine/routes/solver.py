"""solve: OR-Tools routing search, optionally warm-started from a proposal or the previous plan."""

from __future__ import annotations

from datetime import timedelta

from ortools.constraint_solver import routing_enums_pb2

from engine.routes.check import check
from engine.routes.plan import Plan
from engine.routes.problem import Problem
from engine.routes.routing_model import build_routing_model


def solve(
    problem: Problem,
    *,
    time_limit_s: float,
    initial: Plan | None = None,
    previous: Plan | None = None,
    stability_cost: float = 0.0,
    solution_limit: int | None = None,
) -> Plan | None:
    """The best plan found within the time limit, or None when OR-Tools finds none at all.

    With `solution_limit` the search is a descent to a local optimum of at most that many solutions (the same
    plan on any machine); the time limit then only guards against a runaway search.

    `initial` (a repaired LLM proposal, or the previous plan) seeds the search when it loads into the model;
    `stability_cost` (in objective units) is charged for each order served by another vehicle than in `previous`.
    """
    if not problem.vehicles or not problem.stops:
        return Plan.of({})
    model = build_routing_model(problem, previous=previous, stability_cost=stability_cost)
    routing = model.routing
    parameters = _search_parameters(time_limit_s, solution_limit)
    routing.CloseModelWithParameters(parameters)
    seed = None
    if initial is not None:
        usable = _known_part(problem, initial)
        seed = routing.ReadAssignmentFromRoutes(model.routes_for(usable), True)
    solution = (routing.SolveFromAssignmentWithParameters(seed, parameters) if seed is not None
                else routing.SolveWithParameters(parameters))
    if solution is None:
        return None
    return model.plan_from(solution)


def _search_parameters(time_limit_s: float, solution_limit: int | None = None) -> object:
    from ortools.constraint_solver import pywrapcp

    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    parameters.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    parameters.time_limit.FromTimedelta(timedelta(seconds=max(time_limit_s, 0.05)))
    if solution_limit is not None:
        # Guided local search never stops by itself (on a small problem it may never find `solution_limit`
        # solutions, measured: 30 s runs); a plain descent ends at a local optimum, the same one every time.
        parameters.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
        parameters.solution_limit = solution_limit
    return parameters


def _known_part(problem: Problem, plan: Plan) -> Plan:
    """A proposal cut down to known vehicles and orders, each order once (what can seed the search)."""
    seen: set[str] = set()
    routes: dict[str, list[str]] = {}
    for vehicle_id, orders in plan.routes:
        if problem.vehicle(vehicle_id) is None:
            continue
        kept: list[str] = []
        for order_id in orders:
            if problem.stop(order_id) is not None and order_id not in seen:
                seen.add(order_id)
                kept.append(order_id)
        routes[vehicle_id] = kept
    return Plan.of(routes)


def repair(problem: Problem, plan: Plan) -> Plan:
    """Drop what makes a proposal infeasible (ids, duplicates, late stops), in order; passes the full check or is {}."""
    known = _known_part(problem, plan).as_dict()
    promised = {o for v in problem.vehicles for o in v.committed}
    routes_in: dict[str, list[str]] = {}
    for vehicle in problem.vehicles:  # committed stops first, on their own vehicle, whatever was proposed
        rest = [o for o in known.get(vehicle.vehicle_id, ()) if o not in promised]
        if vehicle.committed or rest:
            routes_in[vehicle.vehicle_id] = list(vehicle.committed) + rest
    candidate = Plan.of(routes_in)
    for _ in range(len(problem.stops) + 1):
        # The precise check names the culprit; OR-Tools' verdict is asked once, of the plan that survives.
        result = check(problem, candidate, ortools=False)
        if result.feasible:
            return candidate if check(problem, candidate).feasible else Plan.of({})
        culprit = next(((v.vehicle_id, v.order_id) for v in result.violations if v.order_id), None)
        if culprit is None:
            return Plan.of({})
        routes = {v: list(o) for v, o in candidate.as_dict().items()}
        vehicle_id, order_id = culprit
        if vehicle_id in routes and order_id in routes[vehicle_id]:
            owner = problem.vehicle(vehicle_id)
            if owner is not None and order_id in owner.committed:
                routes[vehicle_id] = list(owner.committed)  # keep promises, drop the rest
                if result.violations and all(v.order_id in owner.committed for v in result.violations):
                    return Plan.of({})  # the promises themselves are infeasible now
            else:
                routes[vehicle_id] = [o for o in routes[vehicle_id] if o != order_id]
        else:
            return Plan.of({})
        candidate = Plan.of(routes)
    return Plan.of({})
