"""Tests of the routing model: numpy-built integers equal the old ones, and stability as a "moved" dimension."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

import engine.routes.routing_model as routing_model
from engine.routes.check import check
from engine.routes.decide import Candidate
from engine.routes.plan import Plan
from engine.routes.problem import TIME_SCALE, Problem, Stop, Vehicle
from engine.routes.routing_model import build_routing_model, moved_vectors, scaled_problem
from schemas import PlanePoint
from tests.factories import T0
from tests.route_factories import line_problem


def random_problem(seed: int, *, n_vehicles: int = 3, n_orders: int = 12, open_routes: bool = True,
                   objective: str = "seconds", shift_end: float = 1e6) -> Problem:
    """Random points, a random asymmetric travel matrix with exact .5 cases after scaling, wide windows."""
    rng = np.random.default_rng(seed)
    n = n_vehicles + n_orders
    seconds = rng.uniform(0, 500, size=(n, n))
    seconds[rng.random((n, n)) < 0.2] = rng.choice([0.125, 0.375, 2.625, 10.005], size=1)[0]  # halves when scaled
    np.fill_diagonal(seconds, 0.0)
    distance = seconds * 7.3
    for matrix in (seconds, distance):
        matrix.setflags(write=False)
    stops = tuple(Stop(order_id=f"o{i}", location=n_vehicles + i, demand=int(rng.integers(0, 3)), window_start=0.0,
                       window_end=shift_end, service_s=float(rng.choice([0.125, 30.0, 61.375, 5.0])))
                  for i in range(n_orders))
    vehicles = tuple(Vehicle(f"v{k}", start=k, end=None if open_routes else k, capacity=100, available_from=0.0,
                             shift_end=shift_end) for k in range(n_vehicles))
    locations = tuple(PlanePoint(x=float(i), y=0.0) for i in range(n))
    return Problem(fleet_id="f", at=T0, locations=locations, seconds=seconds, distance=distance,  # type: ignore[arg-type]
                   stops=stops, vehicles=vehicles, objective=objective)


def reference_matrices(problem: Problem) -> tuple[list[list[int]], list[list[int]]]:
    """The pure-Python construction the model used before numpy (time with service at the origin, and cost)."""
    n_locations = len(problem.locations)
    open_routes = any(v.end is None for v in problem.vehicles)
    sink = n_locations if open_routes else -1
    stop_at = {s.location: s for s in problem.stops}
    n_nodes = n_locations + int(open_routes)
    service = [round(stop_at[i].service_s * TIME_SCALE) if i in stop_at else 0 for i in range(n_nodes)]

    def scaled(table: object) -> list[list[int]]:
        return [[0 if i == sink or j == sink else round(table[i][j] * TIME_SCALE)  # type: ignore[index]
                 for j in range(n_nodes)] for i in range(n_nodes)]

    seconds = scaled(problem.seconds)
    time = [[leg + service[i] for leg in row] for i, row in enumerate(seconds)]
    cost = seconds if problem.objective == "seconds" else scaled(problem.distance)
    return time, cost


@pytest.mark.parametrize(("open_routes", "objective"), [(True, "seconds"), (False, "distance"), (True, "distance")])
def test_numpy_matrices_equal_the_pure_python_construction(open_routes: bool, objective: str) -> None:
    """The numpy-built time and cost matrices hold exactly the integers the old list-of-lists code computed
    (rounding half to even included), and OR-Tools sees those integers as arc costs and time transits."""
    problem = random_problem(3, open_routes=open_routes, objective=objective)
    time, cost = reference_matrices(problem)
    scaled = scaled_problem(problem)
    assert scaled.time.dtype == np.int64 and scaled.time.tolist() == time and scaled.cost.tolist() == cost
    assert scaled.sink == (len(problem.locations) if open_routes else -1)
    model = build_routing_model(problem)
    model.routing.CloseModel()
    for v in range(len(problem.vehicles)):
        for i in (model.routing.Start(v), *(model.manager.NodeToIndex(s.location) for s in problem.stops)):
            for j in (model.routing.End(v), *(model.manager.NodeToIndex(s.location) for s in problem.stops)):
                if i != j:
                    a, b = model.manager.IndexToNode(i), model.manager.IndexToNode(j)
                    assert model.routing.GetArcCostForVehicle(i, j, v) == cost[a][b]
                    assert model.time.GetTransitValue(i, j, v) == time[a][b]


def test_matrices_are_computed_once_per_problem() -> None:
    """The scaled matrices are cached on the Problem object: two models of one problem share them, read-only."""
    problem = random_problem(4)
    first = scaled_problem(problem)
    build_routing_model(problem)
    assert scaled_problem(problem) is first and not first.time.flags.writeable
    assert scaled_problem(random_problem(4)) is not first


def test_tuple_matrices_still_work() -> None:
    """Tuple-of-tuples matrices (the old Problem type) give the same integers as numpy arrays."""
    problem = random_problem(5)
    as_tuples = Problem(fleet_id="f", at=T0, locations=problem.locations,
                        seconds=tuple(map(tuple, problem.seconds.tolist())),  # type: ignore[arg-type]
                        distance=tuple(map(tuple, problem.distance.tolist())),  # type: ignore[arg-type]
                        stops=problem.stops, vehicles=problem.vehicles)
    assert scaled_problem(as_tuples).time.tolist() == scaled_problem(problem).time.tolist()


def objective(problem: Problem, plan: Plan, **stability: object) -> int | None:
    """The OR-Tools objective of a plan loaded into a fresh model (None when the model rejects it)."""
    model = build_routing_model(problem, **stability)  # type: ignore[arg-type]
    model.routing.CloseModel()
    assignment = model.routing.ReadAssignmentFromRoutes(model.routes_for(plan), True)
    return None if assignment is None else int(assignment.ObjectiveValue())


def moved_as_decide_counts(problem: Problem, plan: Plan, previous: Plan) -> int:
    """Orders moved to another vehicle than in previous, as Candidate.score charges them."""
    candidate = Candidate("solver", plan, check(problem, plan))
    return round(candidate.score(previous, 1.0) - candidate.score(previous, 0.0))


def test_stability_dimension_charges_each_moved_order() -> None:
    """With a previous plan the objective grows by exactly stability_cost x (orders moved, as decide counts them):
    an order kept on its vehicle or new this cycle costs nothing, one whose vehicle is gone costs wherever it goes,
    and leaving an order out is still allowed."""
    problem = line_problem()
    previous = Plan.of({"west": ["a", "d"], "ghost": ["c"]})  # b is new; ghost is offline now
    plans = [Plan.of({"west": ["a", "b"], "east": ["c", "d"]}), Plan.of({"west": ["a", "b", "d"]}),
             Plan.of({"west": ["c"], "east": ["a"]}), Plan.of({"east": ["d", "c", "b", "a"]}), Plan.of({})]
    moved = [moved_as_decide_counts(problem, plan, previous) for plan in plans]
    assert moved == [2, 0, 2, 3, 0]
    for plan, count in zip(plans, moved, strict=True):
        free = objective(problem, plan)
        stable = objective(problem, plan, previous=previous, stability_cost=60.0)
        assert free is not None and stable is not None
        assert stable - free == round(60.0 * TIME_SCALE) * count


def random_plan(rng: random.Random, orders: list[str], owners: list[str], *, keep: float) -> Plan:
    """Each order, with probability keep, on a random owner, in random order."""
    routes: dict[str, list[str]] = {}
    for order_id in rng.sample(orders, len(orders)):
        if rng.random() < keep:
            routes.setdefault(rng.choice(owners), []).append(order_id)
    return Plan.of(routes)


def test_stability_matches_decide_on_random_problems() -> None:
    """On random problems, previous plans and plans (with dropped orders), the model accepts what it accepts
    without stability and charges stability_cost x moved orders, as Candidate.score does."""
    for seed in range(12):
        problem = random_problem(seed, n_vehicles=4, n_orders=10)
        rng = random.Random(seed)
        vehicle_ids = [v.vehicle_id for v in problem.vehicles] + ["gone"]
        orders = [s.order_id for s in problem.stops]

        previous = random_plan(rng, orders, vehicle_ids, keep=0.8)
        for _ in range(4):
            plan = random_plan(rng, orders, vehicle_ids[:-1], keep=0.7)
            free = objective(problem, plan)
            stable = objective(problem, plan, previous=previous, stability_cost=12.5)
            assert free is not None and stable is not None, (seed, plan, previous)
            assert stable - free == round(12.5 * TIME_SCALE) * moved_as_decide_counts(problem, plan, previous)


def test_moved_vectors_are_per_vehicle_and_shared_when_equal() -> None:
    """A vehicle's vector marks the orders other present vehicles served; orders of a gone vehicle are marked
    for everyone apart; vehicles that served nothing last cycle get equal vectors (one registered evaluator)."""
    problem = random_problem(6, n_vehicles=4, n_orders=4)
    node = {s.order_id: s.location for s in problem.stops}
    previous = Plan.of({"v0": ["o0"], "v1": ["o1"], "gone": ["o2"]})
    by_vehicle, gone = moved_vectors(problem, previous, scaled_problem(problem).n_nodes)
    marked = [{o for o, n in node.items() if vector[n]} for vector in by_vehicle]
    assert marked == [{"o1"}, {"o0"}, {"o0", "o1"}, {"o0", "o1"}]
    assert {o for o, n in node.items() if gone[n]} == {"o2"}
    assert by_vehicle[2].tobytes() == by_vehicle[3].tobytes()
    assert by_vehicle[0].sum() + by_vehicle[1].sum() == 2  # O(vehicles x nodes) integers, not a matrix each


def test_no_stability_dimension_without_a_penalty_or_a_move() -> None:
    """The "moved" dimensions exist only when something can be moved and moving costs something."""
    problem = line_problem()
    previous = Plan.of({"west": ["a"], "east": ["c"]})

    def dimensions(**stability: object) -> set[str]:
        return set(build_routing_model(problem, **stability).routing.GetAllDimensionNames())  # type: ignore[arg-type]

    assert dimensions(previous=previous, stability_cost=60) == {"load", "time", "moved"}
    assert dimensions(previous=Plan.of({"ghost": ["a"]}), stability_cost=60) == {"load", "time", "moved_from_gone"}
    assert dimensions(previous=previous) == dimensions(previous=Plan.of({}), stability_cost=60) == {"load", "time"}


def test_derived_objects_stay_off_the_problem_and_die_with_it() -> None:
    """After a check, a Problem still pickles (to a process pool) to the same bytes, carrying no OR-Tools model or
    matrices, and its cache is dropped as soon as the problem is (nothing in it points back at the problem)."""
    problem = line_problem()
    before = pickle.dumps(problem)
    assert check(problem, Plan.of({"west": ["a", "b"]})).ortools_accepts
    assert pickle.dumps(problem) == before
    copy = pickle.loads(before)
    assert check(copy, Plan.of({"west": ["a", "b"]})).ortools_accepts
    key = id(problem)
    assert key in routing_model._derived and "checker" in routing_model._derived[key]
    del problem
    assert key not in routing_model._derived
