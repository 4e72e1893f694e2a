"""RouteCycle: every cycle, per owned fleet, decide (engine.routes.decide) and publish checked plans."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import faust

from agents.kafka.cycle_timer import BackgroundTicks, every_cycle
from agents.kafka.topics import RAW_BYTES
from agents.llm.worker_model import SharedModel
from agents.routes.fleet_state import FleetViews
from agents.routes.plan_store import PlanStore
from engine.routes.decide import Budget, decide
from engine.routes.llm_proposer import LlmProposer, Proposal
from engine.routes.plan import Plan
from engine.routes.problem import Problem, build_problem
from engine.routes.state import FleetState
from engine.routes.travel import StraightLineTravel
from engine.settings import Settings

log = logging.getLogger(__name__)


class RouteCycle:
    """Runs one decision per fleet per cycle; never two at once for a fleet; LLM calls off the event loop."""

    def __init__(self, settings: Settings, views: FleetViews, routes: faust.TopicT,
                 decisions: faust.TopicT, store: PlanStore, model: SharedModel | None) -> None:
        route = settings.route
        self.views = views
        self.routes = routes
        self.decisions = decisions
        self.store = store
        self.model = model
        self.proposer = None if model is None else LlmProposer(model.model, max_tokens=settings.llm.max_tokens,
                                                                max_orders=route.llm_orders)
        self.llm_budget_s = route.llm_s
        self.budget = Budget.of(route)
        self.travel = StraightLineTravel(speed_kmh=route.speed_kmh)
        self.in_flight: set[str] = set()
        self.previous: dict[str, Plan] = {}
        self.late: dict[str, Proposal] = {}  # LLM answers that missed their cycle: they seed the next one
        self.cycles = 0

    async def tick(self, at: datetime | None = None) -> None:
        """One cycle for every fleet this worker owns now (snapshots: events keep changing the live views)."""
        at = at or datetime.now(UTC)
        fleets = [state.copy() for state in self.views.owned()]
        await asyncio.gather(*(self.run_fleet(state, at) for state in fleets))
        self.cycles += 1

    async def run_fleet(self, state: FleetState, at: datetime) -> None:
        if state.fleet_id in self.in_flight:
            log.warning("fleet %s: previous cycle still running, skipping the cycle at %s", state.fleet_id, at)
            return
        self.in_flight.add(state.fleet_id)
        try:
            await self._decide_and_publish(state, at)
        except Exception:  # one fleet's failure must not stop the others or the worker
            log.exception("fleet %s: cycle at %s failed", state.fleet_id, at)
        finally:
            self.in_flight.discard(state.fleet_id)

    async def _decide_and_publish(self, state: FleetState, at: datetime) -> None:
        started = time.monotonic()
        # The travel matrix is O(n²) (numpy, which releases the GIL): in a thread, so heartbeats never wait on it.
        problem = await asyncio.to_thread(build_problem, state, at, self.travel)
        stage_ms = {"problem": round((time.monotonic() - started) * 1000, 1)}
        if self.previous.get(state.fleet_id) is None:
            self.previous[state.fleet_id] = await self.store.previous_plan(state.fleet_id) or Plan.of({})
        started = time.monotonic()
        proposal = await self._llm_proposal(problem)
        stage_ms["llm"] = round((time.monotonic() - started) * 1000, 1)
        decision = await asyncio.to_thread(
            decide, problem, llm=proposal, previous=self.previous.get(state.fleet_id), budget=self.budget,
            stage_ms=stage_ms, input_offsets=state.applied_offsets,
        )
        started = time.monotonic()
        key = state.fleet_id.encode()
        if decision.plan is not None:
            await self.routes.send(key=key, value=decision.plan.to_bytes())
            await self.store.publish(decision.plan)
            assert decision.chosen is not None
            self.previous[state.fleet_id] = decision.chosen.plan
        record = decision.record
        record = record.model_copy(update={"stage_ms": {**record.stage_ms,
                                                        "publish": round((time.monotonic() - started) * 1000, 1)}})
        await self.decisions.send(key=key, value=record.to_bytes())
        log.info("fleet %s @ %s: %s plan, cost %s, %s unassigned", state.fleet_id, at.isoformat(),
                 record.chosen_source, decision.plan.cost if decision.plan else None,
                 len(decision.plan.unassigned) if decision.plan else None)

    async def _llm_proposal(self, problem: Problem) -> Proposal | None:
        """The LLM's plan if it answers within its budget; a late answer is kept for the next cycle."""
        late = self.late.pop(problem.fleet_id, None)
        if self.model is None or self.proposer is None:
            return None
        proposer, fleet_id = self.proposer, problem.fleet_id

        def keep_late(proposal: Proposal) -> None:
            self.late[fleet_id] = proposal

        turn = await self.model.ask(lambda: proposer.propose(problem), self.llm_budget_s, keep_late)
        if turn.status == "late":
            log.warning("fleet %s: LLM gave no answer within %.1f s; deciding without it", fleet_id,
                        self.llm_budget_s)
        return turn.value if turn.status == "answered" else late


def install_route_cycle(app: faust.App, settings: Settings, views: FleetViews,
                        model: SharedModel | None) -> tuple[RouteCycle, BackgroundTicks]:
    """Register the routes/decisions topics and the cycle timer; `model` is the worker's shared LLM."""
    routes = app.topic(settings.topics.routes, partitions=settings.topics.partitions, **RAW_BYTES)
    decisions = app.topic(settings.topics.decisions, partitions=settings.topics.partitions, **RAW_BYTES)
    store = PlanStore(str(settings.redis_url), settings.redis_prefix)
    cycle = RouteCycle(settings, views, routes, decisions, store, model)
    # RouteCycle skips a fleet whose previous cycle is still running, so ticks may overlap safely.
    return cycle, every_cycle(app, "route-cycle", settings.cycle_seconds, cycle.tick)
