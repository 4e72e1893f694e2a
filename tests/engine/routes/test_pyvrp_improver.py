"""Tests of PyVrpImprover: matrices straight into PyVRP, committed stops kept first, warm starts."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pytest
import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

from engine.routes.check import check
from engine.routes.plan import Plan
from engine.routes.problem import TIME_SCALE, Problem, Stop, Vehicle
from engine.routes.pyvrp_improver import DROP_PRIZE, UNREACHABLE, PyVrpImprover
from engine.routes.solomon import read_solomon
from engine.routes.travel import StraightLineTravel
from schemas import PlanePoint
from tests.factories import T0
from tests.route_factories import line_problem

SOLOMON = Path(__file__).resolve().parents[4] / "shared" / "data" / "vrptw" / "solomon_100"


def _add_edge_improve(problem: Problem, *, time_limit_s: float, iterations: int, seed: int) -> Plan | None:
    """The improver as it was before (one Model.add_edge per pair, no committed stops): the reference."""
    model = pyvrp.Model()
    all_required = problem.objective == "distance"
    open_routes = any(v.end is None for v in problem.vehicles)
    points = [model.add_location(float(i), 0.0) for i in range(len(problem.locations) + int(open_routes))]
    sink = len(problem.locations) if open_routes else -1
    depot_locations = sorted({v.start for v in problem.vehicles} | {v.end if v.end is not None else sink
                                                                     for v in problem.vehicles})
    depots = {loc: model.add_depot(points[loc]) for loc in depot_locations}

    def reachable(stop: Stop) -> bool:
        return any(stop.demand <= v.capacity
                   and v.available_from + problem.seconds[v.start][stop.location] <= stop.window_end
                   for v in problem.vehicles)

    def scaled(value: float) -> int:
        return round(value * TIME_SCALE)

    served = [stop for stop in problem.stops if all_required or reachable(stop)]
    for stop in served:
        model.add_client(
            points[stop.location], delivery=[stop.demand], service_duration=scaled(stop.service_s),
            tw_early=scaled(max(stop.window_start, 0.0)), tw_late=max(scaled(stop.window_end), 0),
            required=all_required, prize=0 if all_required else DROP_PRIZE * (1 + stop.priority),
        )
    groups: dict[tuple[int, int, int, float, float], list[str]] = defaultdict(list)
    for v in problem.vehicles:
        groups[(v.start, v.end if v.end is not None else sink, v.capacity, v.available_from, v.shift_end)].append(
            v.vehicle_id)
    type_members = []
    for (start, end, capacity, begin, shift_end), ids in groups.items():
        model.add_vehicle_type(len(ids), capacity=[capacity], start_depot=depots[start], end_depot=depots[end],
                               tw_early=scaled(begin), tw_late=max(scaled(shift_end), scaled(begin)))
        type_members.append(ids)
    cost = problem.distance if problem.objective == "distance" else problem.seconds
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            if i == sink:
                model.add_edge(a, b, UNREACHABLE if j != sink else 0, UNREACHABLE if j != sink else 0)
            elif j == sink or i == j:
                model.add_edge(a, b, 0, 0)
            else:
                model.add_edge(a, b, scaled(cost[i][j]), scaled(problem.seconds[i][j]))
    stopping: StoppingCriterion = MultipleCriteria([MaxIterations(iterations), MaxRuntime(time_limit_s)])
    best = model.solve(stopping, seed=seed, display=False).best
    if not best.is_feasible():
        return None
    routes: dict[str, list[str]] = {}
    unused = [list(ids) for ids in type_members]
    for route in best.routes():
        vehicle_id = unused[route.vehicle_type()].pop(0)
        orders = [served[a.idx].order_id for a in route.schedule() if a.is_client()]
        if orders:
            routes[vehicle_id] = orders
    return Plan.of(routes)


def _live_problem(seed: int, *, customers: int = 40, vehicles: int = 5, committed: int = 2) -> Problem:
    """A random live fleet on a plane (open routes, droppable orders); `committed` vehicles have promises."""
    rng = random.Random(seed)
    points = [PlanePoint(x=rng.uniform(0, 1000), y=rng.uniform(0, 1000)) for _ in range(vehicles + customers)]
    stops = []
    for k in range(customers):
        start = rng.uniform(0, 3000)
        stops.append(Stop(order_id=f"o{k}", location=vehicles + k, demand=rng.randint(1, 4), window_start=start,
                          window_end=start + rng.uniform(600, 3000), service_s=rng.uniform(30, 120)))
    promises = {v: (f"p{2 * v}", f"p{2 * v + 1}") for v in range(committed)}
    for ids in promises.values():  # open windows: the promises can be kept, so every plan can be feasible
        for order_id in ids:
            points.append(PlanePoint(x=rng.uniform(0, 1000), y=rng.uniform(0, 1000)))
            stops.append(Stop(order_id=order_id, location=len(points) - 1, demand=2, window_start=0.0,
                              window_end=100_000.0, service_s=60.0))
    fleet = tuple(
        Vehicle(f"v{v}", start=v, end=None, capacity=40, available_from=rng.choice([0.0, 12.345]),
                shift_end=9000.0, committed=promises.get(v, ()))
        for v in range(vehicles)
    )
    matrix = StraightLineTravel(plane_units_per_second=1.0).matrix(points, [])
    return Problem(fleet_id="f", at=T0, locations=tuple(points), seconds=matrix.seconds, distance=matrix.distance,
                   stops=tuple(stops), vehicles=fleet)


@pytest.mark.parametrize("name", ["C101", "RC201"])
def test_same_plan_as_add_edge_model(name: str) -> None:
    """Matrices handed to ProblemData directly give exactly the plan the add_edge model gave (same seed, work)."""
    problem = read_solomon(SOLOMON / f"{name}.txt")
    new = PyVrpImprover(seed=3).improve(problem, time_limit_s=30, iterations=200)
    assert new is not None and new == _add_edge_improve(problem, time_limit_s=30, iterations=200, seed=3)
    assert check(problem, new).feasible


def test_same_plan_as_add_edge_model_on_open_routes() -> None:
    """Open routes (the sink) and droppable orders: still the same plan as the add_edge model."""
    problem = _live_problem(5, committed=0)
    new = PyVrpImprover(seed=1).improve(problem, time_limit_s=30, iterations=200)
    assert new is not None and new == _add_edge_improve(problem, time_limit_s=30, iterations=200, seed=1)
    assert check(problem, new).feasible


def test_supports_committed_but_not_empty() -> None:
    """Committed stops no longer turn PyVRP away; a problem without orders still does."""
    improver = PyVrpImprover()
    assert improver.supports(line_problem(committed=("c",)))
    empty = line_problem()
    assert not improver.supports(Problem(fleet_id="f", at=T0, locations=empty.locations, seconds=empty.seconds,
                                         distance=empty.distance, stops=(), vehicles=empty.vehicles))


def test_committed_stops_first() -> None:
    """A committed stop on the far side stays first on its vehicle, and the plan passes the check."""
    problem = line_problem(committed=("c",))
    plan = PyVrpImprover().improve(problem, time_limit_s=10, iterations=100)
    assert plan is not None and plan.as_dict()["west"][0] == "c"
    assert sorted(plan.assigned()) == ["a", "b", "c", "d"]
    assert check(problem, plan).feasible


def test_committed_load_reduces_capacity() -> None:
    """Committed orders fill the vehicle, so PyVRP gives the rest to the other one."""
    problem = line_problem(capacity=4, committed=("c", "d"))
    plan = PyVrpImprover().improve(problem, time_limit_s=10, iterations=100)
    assert plan is not None and plan.as_dict()["west"] == ("c", "d")
    assert sorted(plan.as_dict()["east"]) == ["a", "b"]
    assert check(problem, plan).feasible


def test_vehicle_starts_where_and_when_its_promises_end() -> None:
    """After its committed stop at x=90 the west vehicle cannot reach x=10 by t=50; nor can east: a is dropped."""
    problem = line_problem(committed=("c",), windows={"a": (0, 50)})
    plan = PyVrpImprover().improve(problem, time_limit_s=10, iterations=100)
    assert plan is not None and "a" not in plan.assigned()
    result = check(problem, plan)
    assert result.feasible and result.unassigned == ("a",)


def test_infeasible_promises_get_only_their_committed_stops() -> None:
    """A committed chain that is already late leaves its vehicle out of PyVRP: it keeps just its promise."""
    problem = line_problem(committed=("c",), windows={"c": (0, 1)})
    plan = PyVrpImprover().improve(problem, time_limit_s=10, iterations=100)
    assert plan is not None and plan.as_dict()["west"] == ("c",)
    assert sorted(plan.as_dict()["east"]) == ["a", "b", "d"]
    assert [v.constraint for v in check(problem, plan).violations] == ["time_window"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_live_plans_with_promises_pass_the_check(seed: int) -> None:
    """On random live fleets with committed stops, every plan PyVRP calls feasible passes the check."""
    problem = _live_problem(seed, committed=3)
    plan = PyVrpImprover(seed=seed).improve(problem, time_limit_s=30, iterations=300)
    assert plan is not None
    result = check(problem, plan)
    assert result.feasible, result.violations
    for vehicle in problem.vehicles:
        if vehicle.committed:
            assert plan.as_dict()[vehicle.vehicle_id][: len(vehicle.committed)] == vehicle.committed


@pytest.mark.parametrize("source", ["solomon", "live"])
def test_warm_start_is_never_worse(source: str) -> None:
    """Warm-started from a good plan, one iteration returns a plan serving as many orders at no higher cost."""
    problem = read_solomon(SOLOMON / "C101.txt") if source == "solomon" else _live_problem(7, committed=3)
    good = PyVrpImprover(seed=11).improve(problem, time_limit_s=30, iterations=300)
    assert good is not None
    before = check(problem, good)
    plan = PyVrpImprover(seed=0).improve(problem, time_limit_s=30, iterations=1, initial=good)
    assert plan is not None
    after = check(problem, plan)
    assert after.feasible and len(after.unassigned) <= len(before.unassigned)
    # PyVRP compares costs rounded per leg to 1/TIME_SCALE; half a unit per leg bounds the difference.
    assert after.cost <= before.cost + 0.5 / TIME_SCALE * (len(problem.stops) + len(problem.vehicles))


def test_warm_start_cleans_the_plan() -> None:
    """Unknown ids, duplicates and committed orders in the initial plan are dropped, not fatal."""
    problem = line_problem(committed=("c",))
    messy = Plan.of({"west": ["c", "a", "zz", "b", "a"], "east": ["b", "d"], "ghost": ["d"]})
    plan = PyVrpImprover().improve(problem, time_limit_s=10, iterations=1, initial=messy)
    assert plan is not None and check(problem, plan).feasible
    assert check(problem, plan).cost <= check(problem, Plan.of({"west": ["c", "a", "b"], "east": ["d"]})).cost


def test_unconvertible_warm_start_is_ignored() -> None:
    """A plan with nothing PyVRP can use gives the same result as no warm start at all."""
    problem = _live_problem(3, committed=2)
    useless = Plan.of({"ghost": ["o1"], "v0": ["p0", "p1", "nope"]})
    cold = PyVrpImprover(seed=4).improve(problem, time_limit_s=30, iterations=50)
    assert cold is not None
    assert PyVrpImprover(seed=4).improve(problem, time_limit_s=30, iterations=50, initial=useless) == cold


def test_warm_start_keeps_routes_on_their_vehicles() -> None:
    """Vehicles of one type are interchangeable to PyVRP; a route it keeps stays on the vehicle that had it."""
    problem = read_solomon(SOLOMON / "C101.txt")
    good = PyVrpImprover(seed=11).improve(problem, time_limit_s=30, iterations=100)
    assert good is not None
    ids = [v.vehicle_id for v in problem.vehicles]
    shuffled = Plan.of({ids[-1 - k]: orders for k, (_, orders) in enumerate(good.routes)})
    plan = PyVrpImprover().improve(problem, time_limit_s=30, iterations=1, initial=shuffled)
    assert plan is not None
    before = {frozenset(orders): vehicle for vehicle, orders in shuffled.routes}
    kept = [(vehicle, before[frozenset(orders)]) for vehicle, orders in plan.routes if frozenset(orders) in before]
    assert kept and all(vehicle == owner for vehicle, owner in kept)
