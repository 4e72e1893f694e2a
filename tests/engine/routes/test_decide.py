"""Tests of decide: candidates, the OR-Tools gate, the choice and the audit record."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from engine.routes.check import check
from engine.routes.decide import Budget, _run_searches, decide, warm_up
from engine.routes.llm_proposer import Proposal
from engine.routes.plan import Plan
from engine.routes.pyvrp_improver import PyVrpImprover
from engine.routes.solomon import read_solomon
from engine.settings import RouteSettings
from tests.route_factories import line_problem

FAST = Budget(improve_s=0.2, solver_s=0.2, stability_cost=0)


def test_infeasible_llm_answer_is_recorded_not_published() -> None:
    """An LLM plan that breaks constraints is listed with its violations and a checked plan is published."""
    problem = line_problem(capacity=4)
    bad = Proposal("llm", Plan.of({"west": ["a", "b", "c", "ghost"]}), raw_text="{...}", prompt_hash="h")
    decision = decide(problem, llm=bad, previous=None, budget=FAST)
    llm = next(c for c in decision.record.candidates if c.source == "llm")
    assert not llm.feasible and {v.constraint for v in llm.violations} >= {"unknown_id", "capacity"}
    assert decision.plan is not None and decision.plan.source != "llm" and decision.record.published
    assert check(problem, decision.chosen.plan).feasible  # type: ignore[union-attr]


def test_unparseable_llm_answer_still_publishes() -> None:
    """Garbage text gives no LLM candidate; the solver plan is published and the text is kept for audit."""
    garbage = Proposal("llm", None, raw_text="}}}{", prompt_hash="h", parse_error="not JSON")
    decision = decide(line_problem(), llm=garbage, previous=None, budget=FAST)
    assert decision.plan is not None and decision.record.llm_parse_ok is False
    assert decision.record.llm_raw_text == "}}}{"
    assert decision.plan.unassigned == []


def test_feasible_llm_plan_can_win() -> None:
    """A feasible, optimal LLM plan is accepted as it is when nothing beats it."""
    problem = line_problem()
    good = Proposal("llm", Plan.of({"west": ["a", "b"], "east": ["c", "d"]}), raw_text="{}", prompt_hash="h")
    decision = decide(problem, llm=good, previous=None, budget=FAST)
    assert decision.plan is not None and decision.plan.cost == 40
    assert decision.record.chosen_source in ("llm", "llm_repaired", "solver")
    assert {c.source for c in decision.record.candidates} >= {"llm", "llm_repaired", "solver"}


def test_unservable_orders_published_with_reasons() -> None:
    """Orders nobody can serve are published as unassigned, each with a reason a dispatcher understands."""
    problem = line_problem(windows={"c": (0, 1)}, demand=2)
    decision = decide(problem, llm=None, previous=None, budget=FAST)
    assert decision.plan is not None
    assert [(u.order_id, u.reason.startswith("no vehicle can arrive")) for u in decision.plan.unassigned] == [
        ("c", True)]


def test_record_has_digest_and_timings() -> None:
    """The audit record carries the inputs digest, every candidate's cost and per-stage timings."""
    problem = line_problem()
    decision = decide(problem, llm=None, previous=Plan.of({"west": ["a"]}), budget=FAST)
    record = decision.record
    assert record.inputs_digest == problem.digest()
    assert {"solver", "improve_previous", "final_check"} <= set(record.stage_ms)
    assert all(c.cost is not None for c in record.candidates if c.feasible)


def test_budget_of_settings_uses_work_only_when_asked() -> None:
    """Time mode keeps the seconds as limits; work mode (or a backtest forcing it) sets the work limits and
    turns the seconds into a 20x runaway guard."""
    route = RouteSettings()
    timed = Budget.of(route)
    assert not timed.by_work and timed.cap(1.5) == 1.5 and timed.improve_solutions is None
    worked = Budget.of(route, by_work=True)
    assert worked.by_work and worked.cap(1.5) == 30.0
    assert (worked.improve_solutions, worked.solver_iterations) == (route.improve_solutions, route.solver_iterations)
    assert Budget.of(RouteSettings(budget_mode="work")).by_work


def test_work_budget_decisions_repeat_exactly() -> None:
    """Under a work budget the same problem gives the same decision record, timings aside."""
    budget = Budget(improve_s=1, solver_s=1, stability_cost=0, improve_solutions=10, solver_iterations=50)
    records = [decide(line_problem(), llm=None, previous=Plan.of({}), budget=budget).record for _ in range(2)]
    assert records[0].model_copy(update={"stage_ms": {}}) == records[1].model_copy(update={"stage_ms": {}})


SOLOMON = Path(__file__).resolve().parents[4] / "shared" / "data" / "vrptw" / "solomon_100"


def test_previous_plan_is_kept_when_the_searches_run_out_of_time() -> None:
    """With searches far too short to finish, the repaired previous plan is still published: never fewer
    orders served, never a higher cost than last cycle on the same problem."""
    problem = read_solomon(SOLOMON / "RC101.txt")
    previous = PyVrpImprover().improve(problem, time_limit_s=2.0)
    assert previous is not None
    before = check(problem, previous)
    starved = Budget(improve_s=0.001, solver_s=0.001, stability_cost=0, improve_solutions=1, solver_iterations=1)
    decision = decide(problem, llm=None, previous=previous, budget=starved)
    assert decision.plan is not None and decision.chosen is not None
    after = check(problem, decision.chosen.plan)
    assert len(after.unassigned) <= len(before.unassigned) and after.cost <= before.cost + 1e-6
    assert any(c.source == "previous_plan" and c.feasible for c in decision.record.candidates)


def test_repeated_cycles_never_get_worse_on_an_unchanged_problem() -> None:
    """Deciding the same problem again and again, feeding back the chosen plan, never raises the cost."""
    problem = read_solomon(SOLOMON / "C101.txt")
    budget = Budget(improve_s=0.3, solver_s=0.3, stability_cost=0)
    previous: Plan | None = None
    costs = []
    for _ in range(3):
        decision = decide(problem, llm=None, previous=previous, budget=budget)
        assert decision.plan is not None and decision.chosen is not None
        costs.append(decision.plan.cost)
        previous = decision.chosen.plan
    assert costs == sorted(costs, reverse=True)


def test_searches_run_side_by_side_in_a_process_pool() -> None:
    """With a process pool the three searches run in other processes and the published plan is still checked."""
    problem = line_problem()
    good = Proposal("llm", Plan.of({"west": ["a", "b"], "east": ["c", "d"]}), raw_text="{}", prompt_hash="h")
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        for started in [pool.submit(warm_up) for _ in range(2)]:  # as the worker does at start-up
            started.result()
        decision = decide(problem, llm=good, previous=Plan.of({"west": ["a"]}), budget=FAST, executor=pool,
                          llm_asked=True)
    assert decision.plan is not None and check(problem, decision.chosen.plan).feasible  # type: ignore[union-attr]
    assert {"improve_llm", "improve_previous", "solver"} <= set(decision.record.stage_ms)
    assert {c.source for c in decision.record.candidates} >= {"llm", "llm_repaired", "previous_plan", "solver"}
    assert decision.record.llm_asked is True


def test_search_limits_shrink_to_fit_the_pool() -> None:
    """Searches queued in too few processes share the cycle: limits divide by the rounds each process runs."""
    budget = Budget(improve_s=6, solver_s=6)
    assert budget.for_pool(processes=2, searches=3).solver_s == 3  # 3 searches, 2 processes: 2 rounds
    assert budget.for_pool(processes=2, searches=2) == budget  # side by side, one round
    assert budget.for_pool(processes=2, searches=9).improve_s == pytest.approx(6 / 5)  # 5 rounds
    assert budget.for_pool(processes=16, searches=9) == budget
    # 12 s left of the cycle, 6 searches on 2 processes: 3 rounds of 12 / 3 / 1.5 (overrun margin) = 2.67 s.
    assert budget.for_pool(processes=2, searches=6, seconds_left=12).solver_s == pytest.approx(12 / 3 / 1.5)
    assert budget.for_pool(processes=2, searches=2, seconds_left=60) == budget  # never above the configured
    assert budget.for_pool(processes=2, searches=6, seconds_left=-1).improve_s == 0.2  # a floor, not zero
    worked = Budget(improve_s=6, solver_s=6, improve_solutions=10, solver_iterations=10)
    assert worked.for_pool(processes=1, searches=30) == worked  # work budgets never depend on the machine


def test_a_search_that_overruns_is_given_up() -> None:
    """In the pool, a search still running at 1.5 x its limit + 1 s yields no plan; the others' plans are kept."""
    budget = Budget(improve_s=0.2, solver_s=0.2)
    found = Plan.of({"west": ["a"]})

    def quick() -> Plan:
        return found

    def stuck() -> Plan:
        time.sleep(3)
        return found

    with ThreadPoolExecutor(max_workers=2) as pool:
        started = time.monotonic()
        results = _run_searches([("solver", "solver", quick), ("previous_plan", "improve_previous", stuck)], pool,
                                budget)
        waited = time.monotonic() - started
    assert [(source, plan) for source, _, plan, _ in results] == [("solver", found), ("previous_plan", None)]
    assert waited < 2.0
