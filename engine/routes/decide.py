"""decide: one cycle for one fleet — candidates, OR-Tools check, choice, and the audit record."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial

from engine.routes.check import CheckResult, check
from engine.routes.llm_proposer import Proposal
from engine.routes.plan import Plan
from engine.routes.problem import Problem
from engine.routes.pyvrp_improver import PyVrpImprover
from engine.routes.solver import repair, solve
from engine.settings import DEFAULT_CYCLE_SECONDS, RouteSettings
from schemas import (
    CandidateSummary,
    DecisionRecord,
    PlannedStop,
    RoutePlan,
    UnassignedOrder,
    VehicleRoute,
)
from schemas.route_plan import PlanSource

# Serving one more order always beats any saving in travel (objective units: seconds or distance).
UNSERVED_COST = 1_000_000.0



# A search in the pool is given up at 1.5 x its limit + 1 s (time mode), so one overrun cannot cost the cycle.
OVERRUN_FACTOR, OVERRUN_GRACE_S = 1.5, 1.0
MIN_SEARCH_S = 0.2  # below this no search finds anything at depot size; the kept previous plan still publishes

# In work mode a time limit only stops a runaway search: this many times the stage's time budget.
RUNAWAY_FACTOR = 20.0


@dataclass(frozen=True)
class Budget:
    """How long each search may run: seconds (time mode) or a fixed amount of work (reproducible)."""

    improve_s: float = 1.5
    solver_s: float = 1.5
    stability_cost: float = 60.0  # cost of moving one order to another vehicle than last cycle
    improve_solutions: int | None = None  # set (with solver_iterations): stop on work, not time
    solver_iterations: int | None = None

    @classmethod
    def of(cls, route: RouteSettings, *, by_work: bool | None = None) -> Budget:
        """The budget the settings describe; by_work overrides ENGINE_ROUTE__BUDGET_MODE (backtests force it)."""
        work = route.budget_mode == "work" if by_work is None else by_work
        resolved = route if route.improve_s is not None else route.for_cycle(DEFAULT_CYCLE_SECONDS)
        assert resolved.improve_s is not None and resolved.solver_s is not None
        return cls(improve_s=resolved.improve_s, solver_s=resolved.solver_s, stability_cost=route.stability_cost,
                   improve_solutions=route.improve_solutions if work else None,
                   solver_iterations=route.solver_iterations if work else None)

    @property
    def by_work(self) -> bool:
        return self.improve_solutions is not None

    def for_pool(self, processes: int, searches: int, seconds_left: float | None = None) -> Budget:
        """Search limits that fit `searches` searches (of every fleet this cycle) into `processes` processes.

        Queued behind each other in too few processes, time-limited searches would stretch the cycle past its
        deadline: each process runs ceil(searches / processes) rounds, all within `seconds_left` when given
        (and never longer than the configured limits). Work budgets stay as they are.
        """
        if self.by_work or searches == 0:
            return self
        rounds = math.ceil(searches / max(processes, 1))
        improve_s, solver_s = self.improve_s / rounds, self.solver_s / rounds
        if seconds_left is not None:  # a fast LLM leaves more of the cycle to the searches, a slow one less
            fit = max(seconds_left, 0.0) / rounds / OVERRUN_FACTOR
            improve_s, solver_s = max(min(self.improve_s, fit), MIN_SEARCH_S), max(min(self.solver_s, fit),
                                                                                 MIN_SEARCH_S)
        return replace(self, improve_s=improve_s, solver_s=solver_s)

    def cap(self, seconds: float) -> float:
        """The time limit of a stage: its budget, or only a runaway guard when the budget is work."""
        return seconds * RUNAWAY_FACTOR if self.by_work else seconds


@dataclass(frozen=True)
class Candidate:
    """A plan under consideration, with its check result."""

    source: PlanSource
    plan: Plan
    result: CheckResult

    def score(self, previous: Plan | None, stability_cost: float) -> float:
        moved = 0
        if previous is not None:
            before = previous.vehicle_of()
            moved = sum(1 for o, v in self.plan.vehicle_of().items() if before.get(o, v) != v)
        return self.result.cost + UNSERVED_COST * len(self.result.unassigned) + stability_cost * moved


@dataclass
class Decision:
    """What a cycle produced: the plan to publish (always checked) and the audit record."""

    plan: RoutePlan | None  # None only when no plan at all passes the check (recorded, not published)
    record: DecisionRecord
    chosen: Candidate | None
    candidates: list[Candidate] = field(default_factory=list)


Search = Callable[[], "Plan | None"]


def warm_up() -> None:
    """Nothing: submitted once per search process at start-up so OR-Tools and PyVRP are imported before cycle 1."""


def solver_candidate(problem: Problem, budget: Budget, warm: Plan | None) -> Plan | None:
    """PyVRP from the best plan so far (committed stops modelled); OR-Tools when PyVRP finds nothing feasible."""
    limit = budget.cap(budget.solver_s)
    improver = PyVrpImprover()
    if improver.supports(problem):
        # An empty warm start would skip PyVRP's own construction and leave a short search serving nothing.
        initial = warm if warm is not None and any(orders for _, orders in warm.routes) else None
        plan = improver.improve(problem, time_limit_s=limit, iterations=budget.solver_iterations, initial=initial)
        if plan is not None and check(problem, plan, ortools=False).feasible:
            return plan
    return solve(problem, time_limit_s=limit, solution_limit=budget.improve_solutions)


def improved(problem: Problem, budget: Budget, seed: Plan, previous: Plan | None) -> Plan | None:
    """OR-Tools search warm-started from seed, charging the stability cost against previous."""
    return solve(problem, time_limit_s=budget.cap(budget.improve_s), initial=seed, previous=previous,
                 stability_cost=budget.stability_cost, solution_limit=budget.improve_solutions)


def decide(problem: Problem, *, llm: Proposal | None, previous: Plan | None, budget: Budget,
           stage_ms: dict[str, float] | None = None, input_offsets: dict[str, int] | None = None,
           executor: Executor | None = None, llm_asked: bool | None = None,
           wait_s: float | None = None, llm_failure: str | None = None) -> Decision:
    """Turn proposals into checked candidates, pick the cheapest feasible one, and explain why.

    The repaired previous plan is a candidate itself, so a search that runs out of time never loses it: on an
    unchanged problem the published plan serves at least as many orders at no higher cost (stability aside).
    The searches (previous plan, LLM plan, solver) run side by side on `executor` (a process pool: OR-Tools
    holds the GIL) or one after the other without one. `input_offsets` (the state's applied offsets) go into
    the record, so a backtest can rebuild that state; `llm_asked` says whether this fleet had its LLM turn.
    `wait_s` is how long the searches may take in all before the cycle must publish without the late ones.
    `llm_failure` says why the LLM gave no plan when the proposal cannot say (late; a reproduced decision's
    recorded reason); otherwise a proposal that failed carries its own.
    """
    timings = dict(stage_ms or {})
    candidates: list[Candidate] = []
    summaries: list[CandidateSummary] = []

    def consider(source: PlanSource, plan: Plan | None) -> None:
        if plan is None:
            return
        result = check(problem, plan)
        summaries.append(CandidateSummary(source=source, feasible=result.feasible,
                                          cost=round(result.cost, 3) if result.feasible else None,
                                          violations=list(result.violations)[:50]))
        if result.feasible:
            candidates.append(Candidate(source, plan, result))

    def timed(stage: str, started: float) -> None:
        timings[stage] = round((time.monotonic() - started) * 1000, 1)

    searches: list[tuple[PlanSource, str, Search]] = []
    if llm is not None and llm.plan is not None:
        started = time.monotonic()
        consider("llm", llm.plan)
        llm_seed = repair(problem, llm.plan)
        timed("check_llm", started)
        searches.append(("llm_repaired", "improve_llm", partial(improved, problem, budget, llm_seed, previous)))
    if previous is not None:
        started = time.monotonic()
        kept = repair(problem, previous)
        consider("previous_plan", kept)  # kept as it is: a search that runs out of time cannot lose it
        timed("keep_previous", started)
        searches.append(("previous_plan", "improve_previous", partial(improved, problem, budget, kept, previous)))
    warm = min(candidates, key=lambda c: c.score(previous, budget.stability_cost)).plan if candidates else None
    searches.append(("solver", "solver", partial(solver_candidate, problem, budget, warm)))
    for source, stage, plan, seconds in _run_searches(searches, executor, budget, wait_s):
        started = time.monotonic()
        consider(source, plan)
        timings[stage] = round(seconds * 1000 + (time.monotonic() - started) * 1000, 1)
    if not candidates:  # nothing feasible at all: serve only the promises that can still be kept
        started = time.monotonic()
        consider("solver", repair(problem, Plan.of({})))
        timed("fallback", started)
    failure = llm_failure or (llm.failure if llm is not None else None)
    record = DecisionRecord(
        decision_id=RoutePlan.make_id(problem.fleet_id, problem.at), fleet_id=problem.fleet_id, cycle_at=problem.at,
        inputs_digest=problem.digest(), prompt_hash=llm.prompt_hash if llm else None,
        llm_raw_text=(llm.raw_text[:100_000] if llm and llm.raw_text is not None else None),
        llm_parse_ok=(llm.plan is not None) if llm else None, llm_asked=llm_asked,
        llm_failure=failure[:1000] if failure else None,
        candidates=summaries, chosen_source=None, published=False, stage_ms=timings,
        input_offsets=dict(input_offsets or {}),
    )
    if not candidates:
        return Decision(None, record, None, candidates)
    chosen = min(candidates, key=lambda c: (c.score(previous, budget.stability_cost), c.source))
    started = time.monotonic()
    final = check(problem, chosen.plan)  # the gate: whatever produced it, OR-Tools checks the published plan
    timings["final_check"] = round((time.monotonic() - started) * 1000, 1)
    assert final.feasible, "a chosen candidate must pass the check"
    route_plan = to_route_plan(problem, chosen.plan, final, chosen.source)
    record = record.model_copy(update={"chosen_source": chosen.source, "published": True, "stage_ms": timings})
    return Decision(route_plan, record, chosen, candidates)


def _run_searches(searches: list[tuple[PlanSource, str, Search]], executor: Executor | None, budget: Budget,
                  wait_s: float | None = None) -> list[tuple[PlanSource, str, Plan | None, float]]:
    """Every search's plan and wall seconds: side by side on the executor, else one after the other.

    On the executor a search still running after wait_s (default: its limit by half again plus 1 s; OR-Tools
    checks its clock only between moves, and a loaded machine stretches it) is given up: the cycle publishes
    from the candidates it has.
    """
    results: list[tuple[PlanSource, str, Plan | None, float]] = []
    if executor is None:
        for source, stage, search in searches:
            started = time.monotonic()
            plan = search()
            results.append((source, stage, plan, time.monotonic() - started))
        return results
    started = time.monotonic()
    if wait_s is None:
        wait_s = budget.cap(max(budget.improve_s, budget.solver_s)) * OVERRUN_FACTOR + OVERRUN_GRACE_S
    deadline = started + wait_s
    futures = [(source, stage, executor.submit(search)) for source, stage, search in searches]
    for source, stage, future in futures:
        try:
            plan = future.result(timeout=max(deadline - time.monotonic(), 0.0))
        except FuturesTimeout:
            plan = None  # still running in its process; its limit ends it there
        results.append((source, stage, plan, time.monotonic() - started))
    return results


def unassigned_reason(problem: Problem, order_id: str) -> str:
    """Why an order is not in the plan, in a dispatcher's words."""
    stop = problem.stop(order_id)
    assert stop is not None
    if not problem.vehicles:
        return "no vehicle is available"
    if all(stop.demand > v.capacity for v in problem.vehicles):
        return f"demand {stop.demand} exceeds the free capacity of every vehicle"
    earliest = min(v.available_from + problem.seconds[v.start][stop.location] for v in problem.vehicles)
    if earliest > stop.window_end:
        return f"no vehicle can arrive before the window closes ({(earliest - stop.window_end) / 60:.0f} min late)"
    if all(max(earliest, stop.window_start) + stop.service_s > v.shift_end for v in problem.vehicles):
        return "every shift ends before the order could be served"
    return "no room in any feasible route this cycle"


def to_route_plan(problem: Problem, plan: Plan, result: CheckResult, source: PlanSource) -> RoutePlan:
    """The wire RoutePlan of a checked plan, with absolute times."""
    assert result.feasible
    at = problem.at
    routes = [
        VehicleRoute(
            vehicle_id=s.vehicle_id,
            stops=[PlannedStop(order_id=t.order_id, arrival=at + timedelta(seconds=t.arrival),
                               service_start=at + timedelta(seconds=t.service_start),
                               departure=at + timedelta(seconds=t.departure), load_after=t.load_after)
                   for t in s.stops],
            travel_seconds=round(s.travel_seconds, 3), distance=round(s.distance, 3),
        )
        for s in result.schedules if s.stops
    ]
    return RoutePlan(
        plan_id=RoutePlan.make_id(problem.fleet_id, at), fleet_id=problem.fleet_id, cycle_at=at, routes=routes,
        unassigned=[UnassignedOrder(order_id=o, reason=unassigned_reason(problem, o)) for o in result.unassigned],
        cost=round(result.cost, 3), source=source,
    )
