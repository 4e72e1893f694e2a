"""Tests of check: precise violations, and OR-Tools' agreement on feasible plans."""

from __future__ import annotations

from typing import Any

import pytest

import engine.routes.check as check_module
from engine.routes.check import _ortools_accepts, check, checker_model
from engine.routes.plan import Plan
from engine.routes.problem import Problem
from engine.routes.routing_model import RoutingModel, build_routing_model
from tests.route_factories import line_problem


def test_feasible_plan_passes_with_schedule() -> None:
    """A sensible plan is feasible, accepted by OR-Tools, and its times follow the travel matrix."""
    result = check(line_problem(), Plan.of({"west": ["a", "b"], "east": ["c", "d"]}))
    assert result.feasible and result.ortools_accepts and result.unassigned == ()
    west = next(s for s in result.schedules if s.vehicle_id == "west")
    assert [(t.order_id, t.arrival, t.departure) for t in west.stops] == [("a", 10, 15), ("b", 25, 30)]
    assert result.cost == 20 + 20


def test_unassigned_orders_listed() -> None:
    """Orders left out are unassigned, and leaving them out is allowed."""
    result = check(line_problem(), Plan.of({"west": ["a"]}))
    assert result.feasible and set(result.unassigned) == {"b", "c", "d"}


def test_capacity_violation_says_by_how_much() -> None:
    """Too much load names the vehicle, the constraint and the excess."""
    result = check(line_problem(capacity=5), Plan.of({"west": ["a", "b", "c"]}))
    capacity = [v for v in result.violations if v.constraint == "capacity"]
    assert not result.feasible and capacity[0].vehicle_id == "west" and capacity[0].excess == 1


def test_time_window_violation_names_the_stop() -> None:
    """A stop reached after its window closes is reported with the lateness in seconds."""
    result = check(line_problem(windows={"c": (0, 50)}), Plan.of({"west": ["a", "c"]}))
    late = [v for v in result.violations if v.constraint == "time_window"]
    assert late[0].order_id == "c" and late[0].excess == 95 - 50


def test_shift_end_violation() -> None:
    """A route that runs past the shift end is reported with the overrun."""
    result = check(line_problem(shift_end=20), Plan.of({"west": ["a", "b"]}))
    shift = [v for v in result.violations if v.constraint == "shift_end"]
    assert shift[0].vehicle_id == "west" and shift[0].excess == 10


def test_unknown_ids_and_duplicates() -> None:
    """Made-up vehicles and orders, and an order on two vehicles, are each reported."""
    result = check(line_problem(), Plan.of({"west": ["a", "zz"], "east": ["a"], "ghost": ["b"]}))
    kinds = {(v.constraint, v.vehicle_id, v.order_id) for v in result.violations}
    assert ("unknown_id", "west", "zz") in kinds
    assert any(kind == ("duplicate_order", vehicle, "a") for kind in kinds for vehicle in ("east", "west"))
    assert ("unknown_id", "ghost", None) in kinds


def test_committed_stops_must_come_first() -> None:
    """Committed stops out of order, or missing, are violations."""
    problem = line_problem(committed=("b", "a"))
    assert not check(problem, Plan.of({"west": ["a", "b"]})).feasible
    assert not check(problem, Plan.of({"east": ["c"]})).feasible
    assert check(problem, Plan.of({"west": ["b", "a"], "east": ["c"]})).feasible


def counting_builder(monkeypatch: pytest.MonkeyPatch) -> list[Problem]:
    """Wrap the check's model builder (the real one, called through) and record each problem it builds for."""
    built: list[Problem] = []

    def build(problem: Problem, **kwargs: Any) -> RoutingModel:
        built.append(problem)
        return build_routing_model(problem, **kwargs)

    monkeypatch.setattr(check_module, "build_routing_model", build)
    return built


def test_check_model_is_built_once_per_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many checks of one problem build and close its OR-Tools model once; a new problem gets its own."""
    built = counting_builder(monkeypatch)
    problem = line_problem()
    plans = [Plan.of({"west": ["a", "b"], "east": ["c", "d"]}), Plan.of({"west": ["a"]}),
             Plan.of({"east": ["d", "c", "b", "a"]}), Plan.of({})]
    for _ in range(5):
        assert all(check(problem, plan).ortools_accepts for plan in plans)
    assert built == [problem]
    other = line_problem()
    assert check(other, plans[0]).feasible and built == [problem, other]


def test_reused_check_model_judges_each_plan_afresh() -> None:
    """A closed model reads plan after plan: OR-Tools' verdict on each equals a fresh model's, in any order
    (a rejected plan leaves nothing behind that changes the next verdict)."""
    problem = line_problem(capacity=5, windows={"c": (0, 50)})
    plans = [Plan.of({"west": ["a", "b"]}), Plan.of({"west": ["a", "b", "c"]}), Plan.of({"east": ["c"]}),
             Plan.of({"west": ["a", "c"]}), Plan.of({"west": ["b", "a"], "east": ["c", "d"]}), Plan.of({})]
    fresh = [_ortools_accepts(line_problem(capacity=5, windows={"c": (0, 50)}), plan) for plan in plans]
    assert fresh == [True, False, True, False, True, True]
    assert [_ortools_accepts(problem, plan) for plan in plans * 3] == fresh * 3
    assert checker_model(problem) is checker_model(problem)


def test_check_without_ortools(monkeypatch: pytest.MonkeyPatch) -> None:
    """ortools=False gives the precise verdict alone (ortools_accepts None) and builds no OR-Tools model."""
    built = counting_builder(monkeypatch)
    problem = line_problem(capacity=5)
    quick = check(problem, Plan.of({"west": ["a", "b"]}), ortools=False)
    bad = check(problem, Plan.of({"west": ["a", "b", "c"]}), ortools=False)
    assert quick.feasible and quick.ortools_accepts is None and quick.notes == ()
    assert not bad.feasible and bad.violations == check(problem, Plan.of({"west": ["a", "b", "c"]})).violations
    assert built == []
    assert check(problem, Plan.of({"west": ["a", "b"]})).ortools_accepts and built == [problem]
