"""RouteMetrics: Prometheus series of the route cycle, in the worker's registry (served at /metrics)."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engine.routes.llm_proposer import Proposal
from schemas import DecisionRecord, RoutePlan

# Cycles run for seconds (a few to tens); stages from a millisecond (a check) to the whole cycle (a search).
CYCLE_BUCKETS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0)
LATENESS_BUCKETS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # le=0: cycles that finished in time
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
# ok: a plan parsed; then infeasible / chosen / repaired say what became of it (a request counts in several).
LLM_OUTCOMES = ("ok", "late", "http_error", "context_exceeded", "timeout", "error", "parse_error", "infeasible",
                "chosen", "repaired")


class RouteMetrics:
    """Cycle times and lateness, per-stage times, LLM outcomes and tokens, and each fleet's plan."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.cycles = Counter("route_cycles", "Route cycles run (each decides every owned fleet).", registry=r)
        self.cycle_seconds = Histogram("route_cycle_seconds", "Wall time of a cycle, start to last publication.",
                                       registry=r, buckets=CYCLE_BUCKETS)
        self.cycle_lateness = Histogram("route_cycle_lateness_seconds", "How far a cycle ran past its cadence "
                                        "(0: finished within ENGINE_CYCLE_SECONDS).", registry=r,
                                        buckets=LATENESS_BUCKETS)
        self.skipped = Counter("route_fleet_cycles_skipped", "Fleet cycles skipped: the previous one still ran.",
                               registry=r)
        self.stage_seconds = Histogram("route_stage_seconds", "Wall time of each stage of a fleet's decision "
                                       "(the decision record's stage_ms).", ["stage"], registry=r,
                                       buckets=STAGE_BUCKETS)
        self.decisions = Counter("route_decisions", "Decisions made, by whether a plan was published.",
                                 ["published"], registry=r)
        self.llm_requests = Counter("route_llm_requests", "LLM requests by outcome (ok also counts in infeasible, "
                                    "chosen or repaired).", ["outcome"], registry=r)
        self.llm_tokens = Counter("route_llm_tokens", "LLM tokens, prompt (in) and completion (out).",
                                  ["direction"], registry=r)
        self.plan_cost = Gauge("route_plan_cost", "Cost of the fleet's last published plan.", ["fleet"],
                               registry=r)
        self.unassigned = Gauge("route_plan_unassigned", "Orders the fleet's last published plan leaves out.",
                                ["fleet"], registry=r)
        for outcome in LLM_OUTCOMES:  # every outcome shows, at 0, before the first request
            self.llm_requests.labels(outcome=outcome)
        for direction in ("in", "out"):
            self.llm_tokens.labels(direction=direction)

    def cycle(self, seconds: float, cadence_s: float) -> None:
        self.cycles.inc()
        self.cycle_seconds.observe(seconds)
        self.cycle_lateness.observe(max(seconds - cadence_s, 0.0))

    def asked(self, proposal: Proposal | None, late: bool) -> None:
        """One request's outcome: late, or how the answer (or its failure) went."""
        if late:
            self.llm_requests.labels(outcome="late").inc()
            return
        if proposal is None:
            return
        self.llm_requests.labels(outcome=proposal.outcome or "error").inc()
        self.llm_tokens.labels(direction="in").inc(proposal.prompt_tokens)
        self.llm_tokens.labels(direction="out").inc(proposal.completion_tokens)

    def decided(self, record: DecisionRecord, plan: RoutePlan | None) -> None:
        """A fleet's decision: stage times, what became of the LLM plan, the published plan's cost."""
        for stage, ms in record.stage_ms.items():
            self.stage_seconds.labels(stage=stage).observe(ms / 1000)
        self.decisions.labels(published=str(record.published).lower()).inc()
        llm = next((c for c in record.candidates if c.source == "llm"), None)
        if llm is not None and not llm.feasible:
            self.llm_requests.labels(outcome="infeasible").inc()
        if record.chosen_source == "llm":
            self.llm_requests.labels(outcome="chosen").inc()
        elif record.chosen_source == "llm_repaired":
            self.llm_requests.labels(outcome="repaired").inc()
        if plan is not None:
            self.plan_cost.labels(fleet=plan.fleet_id).set(plan.cost)
            self.unassigned.labels(fleet=plan.fleet_id).set(len(plan.unassigned))

    def forget(self, fleet_ids: set[str]) -> None:
        """Drop the gauges of fleets this worker no longer owns (another worker reports them now)."""
        for fleet_id in fleet_ids:
            for gauge in (self.plan_cost, self.unassigned):
                with contextlib.suppress(KeyError):  # never set: no plan was published for it here
                    gauge.remove(fleet_id)
