"""`engine bench routes`: Solomon VRPTW through the same improver and OR-Tools check as live plans."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.cycle import exact_check_plan
from benchmarks.instances import read_instance
from engine.routes.check import check
from engine.routes.pyvrp_improver import PyVrpImprover
from engine.routes.solomon import best_known, read_solomon
from engine.routes.solver import solve

DEFAULT_BKS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "vrptw" / "solomon_100_bks.csv"


def solve_instance(path: Path, seconds: float, bks: dict[str, float]) -> dict[str, Any]:
    """Improve with PyVRP (OR-Tools search if PyVRP finds nothing), then check with OR-Tools."""
    problem = read_solomon(path)
    started = time.monotonic()
    plan = PyVrpImprover().improve(problem, time_limit_s=seconds)
    source = "pyvrp"
    if plan is None:
        plan, source = solve(problem, time_limit_s=seconds), "ortools"
    elapsed = time.monotonic() - started
    result = check(problem, plan) if plan is not None else None
    # The benchmark's rules: feasible also in exact arithmetic, late by no amount (the check allows 1e-6).
    exact = exact_check_plan(read_instance(path), plan) if plan is not None else None
    feasible = bool(result and result.feasible and not result.unassigned and exact and exact.feasible)
    cost = result.cost if result else float("nan")
    best = bks.get(path.stem)
    return {
        "instance": path.stem, "cost": round(cost, 2), "bks": best,
        "gap_pct": round(100 * (cost / best - 1), 3) if best and feasible else None,
        "vehicles": sum(1 for _, orders in plan.routes if orders) if plan else 0,
        "feasible": feasible, "seconds": round(elapsed, 2), "source": source,
        "ortools_checked": bool(result and result.ortools_accepts), "feasible_exact": bool(exact and exact.feasible),
    }


def main(instances: list[Path], seconds: float, out: Path | None, bks_csv: Path = DEFAULT_BKS) -> int:
    """Solve every instance, write the JSON list to out, print a table with the median and worst gap."""
    bks = best_known(bks_csv)
    console = Console()
    rows = []
    for path in instances:
        row = solve_instance(path, seconds, bks)
        rows.append(row)
        console.print(f"{row['instance']}: cost {row['cost']} gap {row['gap_pct']}% feasible {row['feasible']}")
    table = Table(title=f"Solomon VRPTW, {seconds:g} s each (PyVRP improver, OR-Tools check)")
    for column in ("instance", "cost", "bks", "gap_pct", "vehicles", "feasible", "seconds"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("instance", "cost", "bks", "gap_pct", "vehicles", "feasible", "seconds")))
    console.print(table)
    gaps = [r["gap_pct"] for r in rows if r["gap_pct"] is not None]
    summary = {"instances": len(rows), "feasible": sum(r["feasible"] for r in rows),
               "median_gap_pct": statistics.median(gaps) if gaps else None, "worst_gap_pct": max(gaps, default=None)}
    console.print(json.dumps(summary))
    if out is not None:
        out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if summary["feasible"] == len(rows) else 1
