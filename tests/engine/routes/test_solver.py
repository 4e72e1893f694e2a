"""Tests of solve and repair: OR-Tools plans always pass the check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import engine.routes.check as check_module
import engine.routes.routing_model as routing_model
import engine.routes.solver as solver_module
from engine.routes.check import check
from engine.routes.plan import Plan
from engine.routes.problem import Problem
from engine.routes.solomon import read_solomon
from engine.routes.solver import repair, solve
from tests.route_factories import line_problem

SOLOMON = Path(__file__).resolve().parents[4] / "shared" / "data" / "vrptw" / "solomon_100"


def test_solution_is_feasible_and_sensible() -> None:
    """Each vehicle takes the orders on its side of the line."""
    problem = line_problem()
    plan = solve(problem, time_limit_s=0.5)
    assert plan is not None
    result = check(problem, plan)
    assert result.feasible and result.unassigned == ()
    assert set(plan.as_dict()["west"]) == {"a", "b"} and set(plan.as_dict()["east"]) == {"c", "d"}


def test_impossible_orders_come_back_unassigned() -> None:
    """An order whose window closed before anyone can get there is left out, the rest are served."""
    problem = line_problem(windows={"c": (0, 1)})
    plan = solve(problem, time_limit_s=0.5)
    assert plan is not None
    result = check(problem, plan)
    assert result.feasible and result.unassigned == ("c",)


def test_committed_stops_kept_first() -> None:
    """Committed stops stay first on their vehicle even when another order would be nearer."""
    problem = line_problem(committed=("c",))
    plan = solve(problem, time_limit_s=0.5)
    assert plan is not None and plan.as_dict()["west"][0] == "c"
    assert check(problem, plan).feasible


def test_stability_keeps_orders_on_their_vehicle() -> None:
    """With a stability cost, an order stays on last cycle's vehicle when moving saves less than it costs."""
    problem = line_problem()
    previous = Plan.of({"west": ["a", "b", "d"], "east": ["c"]})
    stable = solve(problem, time_limit_s=0.5, previous=previous, stability_cost=1000)
    assert stable is not None and "d" in stable.as_dict()["west"]
    free = solve(problem, time_limit_s=0.5)
    assert free is not None and "d" in free.as_dict()["east"]


def test_repair_drops_only_what_breaks() -> None:
    """Repair removes unknown ids, duplicates and late stops and keeps the rest in order."""
    problem = line_problem(windows={"d": (0, 1)})
    repaired = repair(problem, Plan.of({"west": ["a", "zz", "b", "a"], "east": ["c", "d"], "ghost": ["b"]}))
    assert repaired.as_dict() == {"west": ("a", "b"), "east": ("c",)}
    assert check(problem, repaired).feasible


def test_initial_solution_seeds_the_search() -> None:
    """A feasible initial plan is never made worse."""
    problem = line_problem()
    initial = Plan.of({"west": ["a", "b"], "east": ["d", "c"]})
    plan = solve(problem, time_limit_s=0.3, initial=initial)
    assert plan is not None and check(problem, plan).cost <= check(problem, initial).cost


def test_closed_window_is_never_planned() -> None:
    """An order whose window closed before the cycle is left out, not scheduled at an arbitrary time."""
    problem = line_problem(windows={"c": (-600, -60)})
    plan = solve(problem, time_limit_s=0.3)
    assert plan is not None and "c" not in plan.assigned()
    result = check(problem, plan)
    assert result.feasible and result.unassigned == ("c",)


@pytest.mark.timeout(30)
def test_work_budget_ends_on_its_own_and_repeats_exactly() -> None:
    """With a solution limit the search stops by itself long before its 60 s guard (guided local search
    would run to the guard on a small problem), and two runs give the same plan."""
    problem = read_solomon(SOLOMON / "R101.txt")
    first = solve(problem, time_limit_s=60, solution_limit=15)
    small = solve(line_problem(), time_limit_s=60, solution_limit=40)
    assert first is not None and small is not None and check(problem, first).feasible
    assert solve(problem, time_limit_s=60, solution_limit=15) == first


def test_repair_asks_ortools_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Repair's loop uses the precise check alone; OR-Tools judges only the survivor, on a model built once."""
    calls = {"check": 0, "ortools": 0, "build": 0}

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(solver_module, "check", counted("check", check))
    monkeypatch.setattr(check_module, "_ortools_accepts", counted("ortools", check_module._ortools_accepts))
    monkeypatch.setattr(check_module, "build_routing_model", counted("build", check_module.build_routing_model))
    problem = line_problem(windows={"c": (0, 1), "d": (0, 1)})
    repaired = repair(problem, Plan.of({"west": ["a", "b"], "east": ["c", "d"]}))
    assert repaired.as_dict() == {"west": ("a", "b"), "east": ()}
    assert calls == {"check": 3 + 1, "ortools": 1, "build": 1}  # c dropped, d dropped, clean, then the full check


def test_repair_returns_only_what_ortools_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    """When OR-Tools rejects the plan the precise check accepted, repair gives the empty plan, as before."""
    monkeypatch.setattr(check_module, "_ortools_accepts", lambda problem, plan: False)
    assert repair(line_problem(), Plan.of({"west": ["a", "b"]})) == Plan.of({})


def test_one_scaling_and_one_check_model_per_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cycle's repairs, searches and checks of one problem scale its matrices once and build one check model."""
    scaled: list[Problem] = []
    real = routing_model._scale

    def scale(problem: Problem) -> routing_model.ScaledProblem:
        scaled.append(problem)
        return real(problem)

    monkeypatch.setattr(routing_model, "_scale", scale)
    problem = line_problem()
    previous = Plan.of({"west": ["a", "b", "d"], "east": ["c"]})
    seed = repair(problem, previous)
    for plan in (solve(problem, time_limit_s=0.2, initial=seed, previous=previous, stability_cost=60),
                 solve(problem, time_limit_s=0.2, solution_limit=20)):
        assert plan is not None and check(problem, plan).feasible
    assert scaled == [problem] and check_module.checker_model(problem) is check_module.checker_model(problem)


def test_stability_in_work_mode_and_orders_of_a_gone_vehicle() -> None:
    """The stability dimension steers the greedy descent too; orders whose vehicle is gone are still all served."""
    problem = line_problem()
    stable = solve(problem, time_limit_s=20, previous=Plan.of({"west": ["a", "b", "d"], "east": ["c"]}),
                   stability_cost=1000, solution_limit=40)
    assert stable is not None and "d" in stable.as_dict()["west"]
    orphaned = solve(problem, time_limit_s=20, previous=Plan.of({"ghost": ["a", "b", "c", "d"]}),
                     stability_cost=1000, solution_limit=40)
    assert orphaned is not None and check(problem, orphaned).unassigned == ()
