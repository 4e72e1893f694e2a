"""Tests of check: precise violations, and OR-Tools' agreement on feasible plans."""

from __future__ import annotations

from engine.routes.check import check
from engine.routes.plan import Plan
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
