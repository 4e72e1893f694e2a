"""`engine bench cycle`: the live decide() run cycle after cycle on one static Solomon problem, against PyVRP alone.

Feasibility follows the benchmark's rules, not the engine's tolerance: `exact_check` recomputes every route
from the file's coordinates with ZERO tolerance (we check with zero tolerance rather than round travel
times up), so a stop reached 0.004 time units late makes the plan infeasible.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.instances import Instance, distance, read_instance
from engine.routes.check import check
from engine.routes.decide import Budget, decide
from engine.routes.plan import Plan
from engine.routes.pyvrp_improver import PyVrpImprover
from engine.routes.solomon import read_solomon
from engine.settings import load_settings_with

RATIO_CYCLE = 4  # the summary's "ratio after cycle 4"


@dataclass(frozen=True)
class ExactResult:
    """A plan judged by the benchmark's rules: every customer once, capacity, windows and depot due, no tolerance."""

    feasible: bool
    violations: tuple[str, ...]
    distance: float
    min_slack: float  # smallest due time minus service start (or return) over stops and depot; < 0 is late


def exact_check(instance: Instance, routes: Sequence[Sequence[int]]) -> ExactResult:
    """Routes of customer numbers, scheduled with Python floats straight from the coordinates, zero tolerance.

    Travel time = Euclidean distance (sqrt of the exact integer sum of squares, correctly rounded), vehicles
    leave at the depot's ready time and wait for a window to open. With integer coordinates a sum of square
    roots equals an integer only when every root is an integer (then floats are exact), so only a lateness
    below float rounding (~1e-12) could be misjudged.
    """
    by_number = {c.number: c for c in instance.customers}
    violations: list[str] = []
    seen: set[int] = set()
    total, min_slack = 0.0, math.inf
    used = [r for r in routes if r]
    if len(used) > instance.vehicles:
        violations.append(f"{len(used)} routes for {instance.vehicles} vehicles")
    for k, route in enumerate(used):
        here, clock, load = instance.depot, instance.depot.ready, 0.0
        for number in route:
            stop = by_number.get(number)
            if stop is None or number in seen:
                violations.append(f"route {k}: customer {number} is {'unknown' if stop is None else 'served twice'}")
                continue
            seen.add(number)
            leg = distance(here, stop)
            total += leg
            start = max(clock + leg, stop.ready)
            min_slack = min(min_slack, stop.due - start)
            if start > stop.due:
                violations.append(f"route {k}: customer {number} served {start - stop.due!r} after its due time")
            load += stop.demand
            clock, here = start + stop.service, stop
        back = distance(here, instance.depot)
        total += back
        min_slack = min(min_slack, instance.depot.due - (clock + back))
        if clock + back > instance.depot.due:
            violations.append(f"route {k}: back {clock + back - instance.depot.due!r} after the depot closes")
        if load > instance.capacity:
            violations.append(f"route {k}: load {load:g} exceeds capacity {instance.capacity:g}")
    missing = sorted(set(by_number) - seen)
    if missing:
        violations.append(f"{len(missing)} customers not served, e.g. {missing[:5]}")
    return ExactResult(not violations, tuple(violations), total, min_slack)


def exact_check_plan(instance: Instance, plan: Plan) -> ExactResult:
    """An engine Plan (order ids c<number>, as read_solomon names them) judged by exact_check."""
    routes: list[list[int]] = []
    for _, orders in plan.routes:
        routes.append([int(o[1:]) if o.startswith("c") and o[1:].isdigit() else -1 for o in orders])
    return exact_check(instance, routes)


def run_instance(path: Path, cycles: int, pyvrp_seconds: float, budget: Budget, console: Console,
                 executor: Executor | None = None) -> dict[str, Any]:
    """decide() `cycles` times on one instance, each fed the plan it chose last, then PyVRP alone once."""
    instance = read_instance(path)
    row: dict[str, Any] = {"instance": path.stem, "orders": len(instance.customers), "cycle_costs": [],
                           "cycle_seconds": [], "cycle_unassigned": [], "cycle_feasible_exact": [],
                           "cycle_min_slack": [], "cycle_sources": [], "cycle_best_candidate_costs": []}
    previous: Plan | None = None
    for cycle in range(cycles):
        problem = read_solomon(path)  # a new Problem each cycle, as live cycles build theirs (no warm caches)
        started = time.monotonic()
        decision = decide(problem, llm=None, previous=previous, budget=budget, executor=executor)
        seconds = time.monotonic() - started
        if decision.chosen is not None:
            previous = decision.chosen.plan
        exact = exact_check_plan(instance, decision.chosen.plan) if decision.chosen is not None else None
        row["cycle_costs"].append(decision.plan.cost if decision.plan is not None else None)
        row["cycle_seconds"].append(round(seconds, 2))
        row["cycle_unassigned"].append(len(decision.plan.unassigned) if decision.plan is not None
                                       else len(problem.stops))
        row["cycle_feasible_exact"].append(bool(exact and exact.feasible))
        row["cycle_min_slack"].append(exact.min_slack if exact and math.isfinite(exact.min_slack) else None)
        row["cycle_sources"].append(decision.chosen.source if decision.chosen else None)
        # The cheapest feasible candidate by distance alone: what the stability cost may have passed over.
        row["cycle_best_candidate_costs"].append(
            min((round(c.result.cost, 3) for c in decision.candidates if not c.result.unassigned), default=None))
        console.print(f"{path.stem} cycle {cycle + 1}: cost {row['cycle_costs'][-1]} "
                      f"unassigned {row['cycle_unassigned'][-1]} {seconds:.1f} s "
                      f"source {decision.chosen.source if decision.chosen else None} "
                      f"feasible_exact {row['cycle_feasible_exact'][-1]}"
                      + (f" ({exact.violations[0]})" if exact and exact.violations else ""))
    problem = read_solomon(path)
    started = time.monotonic()
    plan = PyVrpImprover().improve(problem, time_limit_s=pyvrp_seconds)
    row["pyvrp_wall_seconds"] = round(time.monotonic() - started, 2)
    result = check(problem, plan) if plan is not None else None
    served = bool(result and result.feasible and not result.unassigned)
    row["pyvrp_10s_cost"] = round(result.cost, 3) if result is not None and served else None
    baseline_exact = exact_check_plan(instance, plan) if plan is not None else None
    row["pyvrp_feasible_exact"] = bool(baseline_exact and baseline_exact.feasible)
    console.print(f"{path.stem} PyVRP alone {pyvrp_seconds:g} s: cost {row['pyvrp_10s_cost']} "
                  f"feasible_exact {row['pyvrp_feasible_exact']}")
    return row


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per instance: cost ratios to PyVRP alone, any cycle worse than the one before, slowest cycle; overall median."""
    per_instance = []
    for row in rows:
        costs: list[float | None] = row["cycle_costs"]
        base: float | None = row["pyvrp_10s_cost"]
        pairs = pairwise(costs)
        per_instance.append({
            "instance": row["instance"],
            "ratio_last": _ratio(costs[-1] if costs else None, base),
            "ratio_after_4": _ratio(costs[RATIO_CYCLE - 1] if len(costs) >= RATIO_CYCLE else None, base),
            "worse_than_previous": any(a is not None and b is not None and b > a for a, b in pairs),
            "max_cycle_seconds": max(row["cycle_seconds"], default=None),
            "all_feasible_exact": all(row["cycle_feasible_exact"]),
        })
    after = [p["ratio_after_4"] for p in per_instance if p["ratio_after_4"] is not None]
    return {"per_instance": per_instance, "median_ratio_after_4": statistics.median(after) if after else None}


def measure(instances: list[Path], cycles: int, pyvrp_seconds: float,
            console: Console | None = None, stability_cost: float | None = None) -> dict[str, Any]:
    """The benchmark's JSON: one row per instance and the summary, with the live settings' time budget."""
    console = console or Console()
    # Time mode whatever ENGINE_ROUTE__BUDGET_MODE says: the benchmark measures what a live cycle reaches, with
    # the live worker's process pool (one process per core) and its search limits for one fleet.
    route = load_settings_with({}).route
    count = route.search_processes if route.search_processes is not None else os.cpu_count() or 1
    budget = Budget.of(route, by_work=False).for_pool(max(count, 1), 2)  # no LLM: previous plan's and solver's
    if stability_cost is not None:  # a static benchmark has no drivers to keep on their routes
        budget = replace(budget, stability_cost=stability_cost)
    pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn")) if count else None
    try:
        rows = [run_instance(path, cycles, pyvrp_seconds, budget, console, pool) for path in instances]
    finally:
        if pool is not None:
            pool.shutdown()
    summary = summarize(rows)
    summary.update(cycles=cycles, pyvrp_seconds=pyvrp_seconds, improve_s=budget.improve_s, solver_s=budget.solver_s,
                   search_processes=count, stability_cost=budget.stability_cost)
    return {"instances": rows, "summary": summary}


def main(instances: list[Path], cycles: int, pyvrp_seconds: float, out: Path | None,
         stability_cost: float | None = None) -> int:
    """Run, print a table and the summary, write the JSON; 0 when every cycle published an exactly feasible plan."""
    console = Console()
    console.width = max(console.width, 110)  # pipes and logs get 80 columns, too few for the table
    report = measure(instances, cycles, pyvrp_seconds, console, stability_cost)
    table = Table(title=f"decide() x {cycles} cycles (time budget, no LLM) vs PyVRP alone {pyvrp_seconds:g} s")
    for column in ("instance", "orders", "first", "last", "pyvrp", "last/pv", "@4/pv", "worse", "max s", "exact"):
        table.add_column(column, justify="right")
    for row, p in zip(report["instances"], report["summary"]["per_instance"], strict=True):
        costs = row["cycle_costs"]
        table.add_row(row["instance"], str(row["orders"]), _short(costs[0]), _short(costs[-1]),
                      _short(row["pyvrp_10s_cost"]), str(p["ratio_last"]), str(p["ratio_after_4"]),
                      "yes" if p["worse_than_previous"] else "no", str(p["max_cycle_seconds"]),
                      "yes" if p["all_feasible_exact"] else "NO")
    console.print(table)
    console.print(json.dumps(report["summary"]))
    if out is not None:
        out.write_text(json.dumps(report, indent=2) + "\n")
    ok = all(all(r["cycle_feasible_exact"]) and not any(r["cycle_unassigned"]) for r in report["instances"])
    return 0 if ok else 1


def _short(cost: float | None) -> str:
    return "-" if cost is None else f"{cost:.1f}"


def _ratio(cost: float | None, base: float | None) -> float | None:
    return round(cost / base, 4) if cost is not None and base else None
