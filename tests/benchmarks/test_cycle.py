"""Tests of the Solomon-format generator, the exact (zero-tolerance) checker and the cycle benchmark."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.cycle import exact_check, exact_check_plan, main
from benchmarks.instances import Customer, Instance, generate, read_instance, write_instance
from engine.routes.check import TOLERANCE_S, check
from engine.routes.plan import Plan
from engine.routes.problem import TIME_SCALE
from engine.routes.routing_model import build_routing_model
from engine.routes.solomon import read_solomon


def _one_customer(tmp_path: Path, x: int, y: int, due: int, depot_due: int) -> Path:
    """A one-vehicle instance whose only customer, at (x, y) from the depot at (0, 0), closes at `due`."""
    instance = Instance("LATE", 1, 10, Customer(0, 0, 0, 0, 0, depot_due, 0), (Customer(1, x, y, 1, 0, due, 0),))
    path = tmp_path / "late.txt"
    path.write_text(instance.text())
    return path


@pytest.mark.parametrize("kind", ["r", "c", "rc"])
def test_generated_instance_reads_back_and_its_witness_is_exactly_feasible(tmp_path: Path, kind: str) -> None:
    """read_solomon reads N stops back, and the planted witness serves everyone within the stated vehicles."""
    generated = write_instance(400, kind, 1, tmp_path / "i.txt")
    problem = read_solomon(tmp_path / "i.txt")
    assert len(problem.stops) == 400 and len(problem.vehicles) == generated.instance.vehicles
    assert read_instance(tmp_path / "i.txt") == generated.instance
    result = exact_check(generated.instance, generated.witness)
    assert result.feasible, result.violations[:3]
    assert len(generated.witness) <= generated.instance.vehicles


def test_same_seed_same_bytes_other_seed_other_instance(tmp_path: Path) -> None:
    """The generator is deterministic for a seed (byte-identical files) and a new seed gives a new instance."""
    write_instance(1000, "rc", 1, tmp_path / "a.txt")
    write_instance(1000, "rc", 1, tmp_path / "b.txt")
    write_instance(1000, "rc", 2, tmp_path / "c.txt")
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
    assert (tmp_path / "a.txt").read_bytes() != (tmp_path / "c.txt").read_bytes()
    assert len(read_solomon(tmp_path / "a.txt").stops) == 1000


def test_exact_checker_rejects_a_stop_late_by_0_004_that_or_tools_integers_accept(tmp_path: Path) -> None:
    """sqrt(125^2 + 1) = 125.004: due 125 is missed by 0.004; OR-Tools' x100 integers round it away, exact does not."""
    path = _one_customer(tmp_path, 125, 1, due=125, depot_due=1000)
    plan = Plan.of({"v1": ["c1"]})
    exact = exact_check_plan(read_instance(path), plan)
    assert not exact.feasible and exact.min_slack == pytest.approx(-0.004, abs=1e-4)
    problem = read_solomon(path)
    model = build_routing_model(problem)
    model.routing.CloseModel()
    assert round(125.004 * TIME_SCALE) == 125 * TIME_SCALE  # the model's travel time equals the due time
    assert model.routing.ReadAssignmentFromRoutes(model.routes_for(plan), True) is not None


def test_exact_checker_rejects_what_the_engine_check_accepts_within_its_tolerance(tmp_path: Path) -> None:
    """sqrt(10^12 + 1) = 10^6 + 5e-7: late by less than TOLERANCE_S, so check() passes it; exact rejects it."""
    path = _one_customer(tmp_path, 1_000_000, 1, due=1_000_000, depot_due=3_000_000)
    plan = Plan.of({"v1": ["c1"]})
    engine = check(read_solomon(path), plan)
    assert engine.feasible and not engine.unassigned
    exact = exact_check_plan(read_instance(path), plan)
    assert not exact.feasible and -TOLERANCE_S < exact.min_slack < 0
    on_time = exact_check_plan(read_instance(_one_customer(tmp_path, 1_000_000, 1, 1_000_001, 3_000_000)), plan)
    assert on_time.feasible and 0 < on_time.min_slack < 1


def test_exact_checker_names_capacity_missing_and_duplicate_customers() -> None:
    """Beyond time: over capacity, a customer twice, one never served and too many routes are each infeasible."""
    depot = Customer(0, 0, 0, 0, 0, 1000, 0)
    instance = Instance("T", 1, 10, depot, (Customer(1, 3, 4, 6, 0, 100, 0), Customer(2, 6, 8, 6, 0, 100, 0)))
    assert exact_check(instance, [[1, 2]]).violations == ("route 0: load 12 exceeds capacity 10",)
    assert exact_check(instance, [[1, 1]]).violations[0] == "route 0: customer 1 is served twice"
    assert "not served" in exact_check(instance, [[1]]).violations[0]
    assert "2 routes for 1 vehicles" in exact_check(instance, [[1], [2]]).violations[0]
    assert exact_check(instance, [[1]]).distance == 10.0  # 5 out, 5 back: exact for a 3-4-5 triangle


def test_cycle_benchmark_on_a_small_generated_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two live decide() cycles and a 1 s PyVRP baseline give the JSON shape, positive costs and feasible_exact."""
    # Short stage budgets through the real settings (the defaults are shares of a 15 s cycle).
    monkeypatch.setenv("ENGINE_ROUTE__IMPROVE_S", "1")
    monkeypatch.setenv("ENGINE_ROUTE__SOLVER_S", "1")
    path = tmp_path / "rc25.txt"
    write_instance(25, "rc", 1, path)
    assert generate(25, "rc", 1).instance == read_instance(path)
    code = main([path], cycles=2, pyvrp_seconds=1.0, out=tmp_path / "cycle.json")
    report = json.loads((tmp_path / "cycle.json").read_text())
    (row,) = report["instances"]
    assert {"instance", "orders", "cycle_costs", "cycle_seconds", "cycle_unassigned", "pyvrp_10s_cost",
            "cycle_feasible_exact", "cycle_min_slack"} <= set(row)
    assert row["instance"] == "rc25" and row["orders"] == 25
    assert len(row["cycle_costs"]) == len(row["cycle_seconds"]) == len(row["cycle_unassigned"]) == 2
    assert all(c > 0 for c in row["cycle_costs"]) and row["pyvrp_10s_cost"] > 0
    assert row["cycle_unassigned"] == [0, 0] and row["cycle_feasible_exact"] == [True, True] and code == 0
    # The live worker's limits for one fleet: the configured 1 s, shrunk when its two searches (previous plan's and
    # solver's, no LLM) share fewer processes.
    share = 1 / math.ceil(2 / report["summary"]["search_processes"])
    assert report["summary"]["improve_s"] == report["summary"]["solver_s"] == pytest.approx(1.0 * share)
    (summary,) = report["summary"]["per_instance"]
    assert summary["ratio_last"] > 0 and summary["ratio_after_4"] is None  # only two cycles
    assert isinstance(summary["worse_than_previous"], bool) and summary["max_cycle_seconds"] > 0
