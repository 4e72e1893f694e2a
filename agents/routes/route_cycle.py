"""RouteCycle: every cycle, per owned fleet, decide (engine.routes.decide) and publish checked plans."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import UTC, datetime

import faust

from agents.kafka.cycle_timer import BackgroundTicks, every_cycle
from agents.kafka.topics import RAW_BYTES
from agents.llm.worker_model import SharedModel, Turn
from agents.routes.fleet_state import FleetViews
from agents.routes.plan_store import PlanStore, plan_of
from agents.routes.prometheus import RouteMetrics
from agents.routes.published_plans import last_published_plan
from engine.llm.context import ContextTooSmallError
from engine.routes.decide import Budget, decide, warm_up
from engine.routes.llm_proposer import LlmProposer, Proposal
from engine.routes.plan import Plan
from engine.routes.problem import Problem, build_problem
from engine.routes.state import FleetState
from engine.routes.travel import StraightLineTravel
from engine.settings import Settings, publish_margin_s

log = logging.getLogger(__name__)


class LlmTurns:
    """Which fleets ask the shared model first: the one that waited longest since its last turn."""

    def __init__(self) -> None:
        self.last_turn: dict[str, float] = {}

    def order(self, fleet_ids: list[str]) -> list[str]:
        """Never-asked fleets first, then the longest wait; ties by fleet id (a fixed, fair rotation)."""
        return sorted(fleet_ids, key=lambda f: (self.last_turn.get(f, float("-inf")), f))

    def took_turn(self, fleet_id: str, at: float) -> None:
        self.last_turn[fleet_id] = at


class RouteCycle:
    """Runs one decision per owned fleet per cycle; never two at once for a fleet; heavy work off the loop.

    Problems are built in threads (numpy releases the GIL); the fleets take turns with the worker's one LLM
    within the cycle's LLM window, the longest-waiting first; the searches run in a process pool (OR-Tools
    holds the GIL for its whole search, which would stall Faust's heartbeats).
    """

    def __init__(self, settings: Settings, views: FleetViews, routes: faust.TopicT,
                 decisions: faust.TopicT, store: PlanStore, model: SharedModel | None,
                 pool: Executor | None = None, processes: int = 1, metrics: RouteMetrics | None = None) -> None:
        route = settings.route
        self.settings = settings
        self.views = views
        self.routes = routes
        self.decisions = decisions
        self.store = store
        self.model = model
        self.pool = pool
        self.processes = processes if pool is not None else 1  # searches of all fleets share these
        self.proposer = None if model is None else LlmProposer(model.model, max_tokens=settings.llm.max_tokens,
                                                                max_orders=route.llm_orders)
        assert route.llm_s is not None  # Settings resolves unset budgets against the cycle
        self.llm_window_s = route.llm_s
        self.cycle_s = settings.cycle_seconds
        self.budget = Budget.of(route)
        self.travel = StraightLineTravel(speed_kmh=route.speed_kmh)
        self.in_flight: set[str] = set()
        self.previous: dict[str, Plan] = {}
        self.late: dict[str, Proposal] = {}  # LLM answers that missed their cycle: they seed the next one
        self.turns = LlmTurns()
        self.cycles = 0
        self.metrics = metrics
        self.failures: dict[str, str] = {}  # why an asked fleet has no proposal this cycle (late), for its record

    async def tick(self, at: datetime | None = None) -> None:
        """One cycle for every fleet this worker owns now (snapshots: events keep changing the live views)."""
        at = at or datetime.now(UTC)
        owned = self.views.owned()
        owned_ids = {s.fleet_id for s in owned}
        if self.metrics is not None:
            self.metrics.forget(set(self.previous) - owned_ids)
        self.previous = {f: p for f, p in self.previous.items() if f in owned_ids}  # revoked fleets are forgotten
        fleets = []
        for state in owned:
            if state.fleet_id in self.in_flight:
                log.warning("fleet %s: previous cycle still running, skipping the cycle at %s", state.fleet_id, at)
                if self.metrics is not None:
                    self.metrics.skipped.inc()
            else:
                fleets.append(state.copy())
        self.in_flight.update(s.fleet_id for s in fleets)
        started = time.monotonic()
        try:
            await self._run(fleets, at)
        finally:
            self.in_flight.difference_update(s.fleet_id for s in fleets)
        self.cycles += 1
        if self.metrics is not None:
            self.metrics.cycle(time.monotonic() - started, self.cycle_s)

    async def _run(self, fleets: list[FleetState], at: datetime) -> None:
        loop = asyncio.get_running_loop()
        window_ends = loop.time() + self.llm_window_s
        started = time.monotonic()
        built = await asyncio.gather(*(asyncio.to_thread(build_problem, s, at, self.travel) for s in fleets),
                                     return_exceptions=True)
        problem_ms = round((time.monotonic() - started) * 1000, 1)
        problems: dict[str, Problem] = {}
        for state, problem in zip(fleets, built, strict=True):
            if isinstance(problem, BaseException):
                log.error("fleet %s: could not build the problem at %s: %r", state.fleet_id, at, problem)
            else:
                problems[state.fleet_id] = problem
        proposals: dict[str, asyncio.Future[Proposal | None]] = {f: loop.create_future() for f in problems}
        asked: set[str] = set()
        turns = asyncio.ensure_future(self._take_llm_turns(problems, proposals, asked, window_ends))
        # Two searches per fleet (previous plan, solver), a third for each LLM plan that parses: known as the
        # turns end, so each fleet sizes its search limits from what is left of the cycle when its turn is over.
        searches = [2 * len(problems)]
        publish_by = loop.time() + self.cycle_s - publish_margin_s(self.cycle_s) - (time.monotonic() - started)

        def budget(proposal: Proposal | None) -> tuple[Budget, float]:
            if proposal is not None and proposal.plan is not None:
                searches[0] += 1
            left = publish_by - loop.time()
            return self.budget.for_pool(self.processes, searches[0], left), left

        await asyncio.gather(*(self._run_fleet(s, problems[s.fleet_id], proposals[s.fleet_id], asked, budget,
                                               {"problem": problem_ms}) for s in fleets if s.fleet_id in problems))
        await turns

    async def _take_llm_turns(self, problems: dict[str, Problem],
                              proposals: dict[str, asyncio.Future[Proposal | None]], asked: set[str],
                              window_ends: float) -> None:
        """Ask the model fleet by fleet, longest-waiting first, until the LLM window closes; the rest go without."""
        loop = asyncio.get_running_loop()
        try:
            for fleet_id in self.turns.order(list(problems)) if self.model is not None else []:
                remaining = window_ends - loop.time()
                if remaining <= 0.05:
                    break
                turn = await self._ask(problems[fleet_id], remaining)
                if turn.status == "busy":  # a request from an earlier cycle still holds the model
                    break
                asked.add(fleet_id)
                self.turns.took_turn(fleet_id, loop.time())
                self._asked(fleet_id, turn, remaining)
                proposals[fleet_id].set_result(turn.value if turn.status == "answered" else None)
        finally:
            for fleet_id, future in proposals.items():
                if not future.done():  # no turn this cycle: an answer that came late last time still counts
                    self.failures.pop(fleet_id, None)
                    future.set_result(self.late.pop(fleet_id, None))

    def _asked(self, fleet_id: str, turn: Turn[Proposal], waited_s: float) -> None:
        """Count the request and log, in one line, why it gave no plan (the reason also goes in the record)."""
        backend = self.settings.llm.backend
        if self.metrics is not None:
            self.metrics.asked(turn.value, turn.status == "late")
        if turn.status == "late":
            self.failures[fleet_id] = f"late: no answer within the {waited_s:.1f} s left of the LLM window"
            log.warning("fleet %s: LLM gave no answer within the %.1f s window (backend %s, %.1f s left); "
                        "deciding without it", fleet_id, self.llm_window_s, backend, waited_s)
        elif turn.value is not None and turn.value.failure is not None:
            log.warning("fleet %s: LLM request failed (backend %s): %s", fleet_id, backend, turn.value.failure)

    async def _ask(self, problem: Problem, deadline_s: float) -> Turn[Proposal]:
        assert self.model is not None and self.proposer is not None
        proposer, fleet_id = self.proposer, problem.fleet_id
        self.late.pop(fleet_id, None)  # superseded by this turn's request

        def keep_late(proposal: Proposal) -> None:
            self.late[fleet_id] = proposal

        return await self.model.ask(lambda: proposer.propose(problem), deadline_s, keep_late)

    async def _run_fleet(self, state: FleetState, problem: Problem, proposal: asyncio.Future[Proposal | None],
                         asked: set[str], budget: Callable[[Proposal | None], tuple[Budget, float]],
                         stage_ms: dict[str, float]) -> None:
        try:
            await self._decide_and_publish(state, problem, proposal, asked, budget, stage_ms)
        except Exception:  # one fleet's failure must not stop the others or the worker
            log.exception("fleet %s: cycle at %s failed", state.fleet_id, problem.at)

    async def _decide_and_publish(self, state: FleetState, problem: Problem,
                                  proposal_due: asyncio.Future[Proposal | None], asked: set[str],
                                  budget: Callable[[Proposal | None], tuple[Budget, float]],
                                  stage_ms: dict[str, float]) -> None:
        fleet_id = state.fleet_id
        if self.previous.get(fleet_id) is None:
            self.previous[fleet_id] = await self._stored_previous(fleet_id)
        started = time.monotonic()
        proposal = await proposal_due
        failure = self.failures.pop(fleet_id, None)
        stage_ms = {**stage_ms, "llm": round((time.monotonic() - started) * 1000, 1)}
        search_budget, left_s = budget(proposal)
        decision = await asyncio.to_thread(
            decide, problem, llm=proposal, previous=self.previous.get(fleet_id), budget=search_budget,
            wait_s=max(left_s, 0.0) if self.pool is not None else None,
            stage_ms=stage_ms, input_offsets=state.applied_offsets, executor=self.pool,
            llm_asked=(fleet_id in asked) if self.model is not None else None, llm_failure=failure,
        )
        started = time.monotonic()
        key = fleet_id.encode()
        if decision.plan is not None:
            await self.routes.send(key=key, value=decision.plan.to_bytes())
        record = decision.record
        record = record.model_copy(update={"stage_ms": {**record.stage_ms,
                                                        "publish": round((time.monotonic() - started) * 1000, 1)}})
        # The audit goes out with the plan, before Redis: a Redis outage never costs a decision record.
        await self.decisions.send(key=key, value=record.to_bytes())
        if self.metrics is not None:
            self.metrics.decided(record, decision.plan)
        if decision.plan is not None:
            assert decision.chosen is not None
            self.previous[fleet_id] = decision.chosen.plan
            try:
                await self.store.publish(decision.plan)
            except Exception as error:  # Redis is a cache; the plan and its audit are on Kafka
                log.error("fleet %s: could not write the plan to Redis: %s", fleet_id, error)
        log.info("fleet %s @ %s: %s plan, cost %s, %s unassigned, LLM %s", fleet_id, problem.at.isoformat(),
                 record.chosen_source, decision.plan.cost if decision.plan else None,
                 len(decision.plan.unassigned) if decision.plan else None,
                 "asked" if record.llm_asked else "not asked" if record.llm_asked is False else "off")

    async def _stored_previous(self, fleet_id: str) -> Plan:
        """Last cycle's plan: from Redis, else read back from the routes topic (Redis is only a cache)."""
        try:
            stored = await self.store.previous_plan(fleet_id)
        except Exception as error:
            log.error("fleet %s: could not read the previous plan from Redis: %s", fleet_id, error)
            stored = None
        if stored is not None:
            return stored
        try:
            published = await last_published_plan(self.settings, fleet_id)
        except Exception as error:  # Kafka trouble: start from nothing rather than skip the cycle
            log.error("fleet %s: could not read the previous plan from the routes topic: %s", fleet_id, error)
            return Plan.of({})
        if published is None:
            return Plan.of({})
        log.info("fleet %s: previous plan %s read back from the routes topic", fleet_id, published.plan_id)
        return plan_of(published)


def install_route_cycle(app: faust.App, settings: Settings, views: FleetViews, model: SharedModel | None,
                        metrics: RouteMetrics | None = None) -> tuple[RouteCycle, BackgroundTicks]:
    """Register the routes/decisions topics and the cycle timer; `model` is the worker's shared LLM.

    Raises ContextTooSmallError when the model's context cannot hold even the smallest route prompt.
    """
    routes = app.topic(settings.topics.routes, partitions=settings.topics.partitions, **RAW_BYTES)
    decisions = app.topic(settings.topics.decisions, partitions=settings.topics.partitions, **RAW_BYTES)
    if model is not None:  # every request would fail: refuse to start, naming the setting
        too_small = LlmProposer(model.model, max_tokens=settings.llm.max_tokens).check_context()
        if too_small is not None:
            raise ContextTooSmallError(f"ENGINE_LLM__N_CTX: the route cycle cannot ask the model, {too_small}")
    store = PlanStore(str(settings.redis_url), settings.redis_prefix)
    processes = settings.route.search_processes
    processes = os.cpu_count() or 1 if processes is None else processes
    pool: ProcessPoolExecutor | None = None
    if processes:  # spawn: a forked child would inherit Faust's event loop and threads
        pool = ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"))
        for _ in range(processes):
            pool.submit(warm_up)
    cycle = RouteCycle(settings, views, routes, decisions, store, model, pool, processes, metrics)
    # RouteCycle skips a fleet whose previous cycle is still running, so ticks may overlap safely.
    return cycle, every_cycle(app, "route-cycle", settings.cycle_seconds, cycle.tick)
