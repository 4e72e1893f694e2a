"""Tests of the Solomon reader and a short solve through the same check as live plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.routes.check import check
from engine.routes.pyvrp_improver import PyVrpImprover
from engine.routes.solomon import best_known, read_solomon

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "vrptw"


@pytest.fixture
def c101() -> Path:
    path = DATA / "solomon_100" / "C101.txt"
    if not path.exists():
        pytest.fail(f"benchmark data missing: {path} (see ../shared/data/SOURCES.md)")
    return path


def test_reads_c101(c101: Path) -> None:
    """C101: 100 customers, 25 vehicles of capacity 200 leaving and returning to the depot."""
    problem = read_solomon(c101)
    assert len(problem.stops) == 100 and len(problem.vehicles) == 25
    assert problem.vehicles[0].capacity == 200 and problem.vehicles[0].shift_end == 1236
    first = problem.stops[0]
    assert (first.order_id, first.demand, first.window_start, first.window_end, first.service_s) == (
        "c1", 10, 912, 967, 90)
    assert problem.distance[0][1] == pytest.approx((5**2 + 18**2) ** 0.5)


def test_short_solve_near_best_known(c101: Path) -> None:
    """Two seconds of PyVRP give a plan OR-Tools accepts within 1% of the best known 828.94."""
    problem = read_solomon(c101)
    plan = PyVrpImprover().improve(problem, time_limit_s=2)
    assert plan is not None
    result = check(problem, plan)
    assert result.feasible and result.ortools_accepts and result.unassigned == ()
    assert result.cost <= 828.94 * 1.01
    assert best_known(DATA / "solomon_100_bks.csv")["C101"] == 828.94
