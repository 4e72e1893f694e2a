"""Board: what the dispatch page shows, kept from the topics' records (newest plan and decisions per fleet,
stop and vehicle positions, fraud alerts and reviews), with bounded memory and a version per change."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.routes.plan_drawing import draw_plan, to_svg
from engine.settings import TopicSettings
from schemas import (
    DecisionRecord,
    DecodeError,
    FraudReview,
    FraudScore,
    Location,
    OrderEvent,
    RoutePlan,
    VehicleEvent,
    decode,
)

MAX_FLEETS = 500  # fleets remembered; the least recently planned one is forgotten first
SHOWN_FLEETS = 60  # fleets on the page: the most recently planned ones
DECISIONS_PER_FLEET = 6
FRAUD_ITEMS = 50  # alerts and reviews each
MAX_ORDER_POSITIONS = 200_000
MAX_VEHICLE_POSITIONS = 50_000
VIOLATIONS_SHOWN = 5

SOURCE_LABEL = {"llm": "LLM", "llm_repaired": "LLM repaired", "solver": "solver", "previous_plan": "previous plan"}


def provenance(record: DecisionRecord) -> str:
    """Where the published plan came from, in words: LLM as proposed / repaired / beaten, solver, previous plan."""
    chosen = record.chosen_source
    if chosen is None:
        return "nothing published: no feasible plan"
    label = SOURCE_LABEL.get(chosen, chosen)
    llm = next((c for c in record.candidates if c.source == "llm"), None)
    if chosen == "llm":
        return "LLM as proposed"
    if llm is not None:
        if chosen == "llm_repaired":
            return "LLM repaired" if llm.feasible else f"LLM repaired ({len(llm.violations)} violation(s) fixed)"
        if llm.feasible:
            return f"LLM beaten by the {label}"
        return f"LLM rejected ({len(llm.violations)} violation(s)): {label}"
    if record.llm_asked is False:
        return f"{label} (no LLM turn this cycle)"
    if record.llm_parse_ok is False:
        return f"{label} (LLM answer did not parse)"
    return label


def plan_members(plan: RoutePlan) -> list[str]:
    """Every vehicle and order id a plan names (served or unassigned)."""
    return ([r.vehicle_id for r in plan.routes] + [s.order_id for r in plan.routes for s in r.stops]
            + [u.order_id for u in plan.unassigned])


def _decision_view(record: DecisionRecord) -> dict[str, Any]:
    return {
        "cycle_at": record.cycle_at.isoformat(), "published": record.published, "chosen": record.chosen_source,
        "provenance": provenance(record), "llm_asked": record.llm_asked, "llm_parse_ok": record.llm_parse_ok,
        "candidates": [
            {"source": c.source, "feasible": c.feasible, "cost": c.cost, "violation_count": len(c.violations),
             "violations": [f"{v.constraint}: {v.message}" for v in c.violations[:VIOLATIONS_SHOWN]]}
            for c in record.candidates
        ],
        "stage_ms": dict(record.stage_ms),
    }


@dataclass
class FleetBoard:
    """One fleet's newest plan and decisions; `version` moves whenever what the page shows of it changes."""

    plan: RoutePlan | None = None
    decisions: deque[DecisionRecord] = field(default_factory=lambda: deque(maxlen=DECISIONS_PER_FLEET))
    version: int = 0
    members: frozenset[str] = frozenset()  # order and vehicle ids in the plan: their moves change the map
    cached: tuple[int, dict[str, Any]] | None = None


class Board:
    """The page's state; `take` applies one record, `changes` hands out what moved since a client's last look."""

    def __init__(self, topics: TopicSettings) -> None:
        self.kind = {topics.routes: "plan", topics.decisions: "decision", topics.fraud_alerts: "alert",
                     topics.fraud_reviews: "review", topics.orders: "order", topics.vehicles: "vehicle"}
        self.fleets: OrderedDict[str, FleetBoard] = OrderedDict()  # least recently planned first
        self.orders: OrderedDict[tuple[str, str], Location] = OrderedDict()
        self.vehicles: OrderedDict[tuple[str, str], tuple[datetime, Location]] = OrderedDict()
        self.alerts: deque[FraudScore] = deque(maxlen=FRAUD_ITEMS)
        self.reviews: deque[FraudReview] = deque(maxlen=FRAUD_ITEMS)
        self.fraud_version = 0
        self.version = 0
        self.skipped = 0  # records that were not valid messages (the agents dead-letter their own inputs)
        self._bumped = asyncio.Event()

    # ---------------------------------------------------------------------------------------- applying

    def take(self, topic: str, value: bytes | None) -> None:
        """Apply one record of a followed topic; invalid ones are counted and skipped."""
        kind = self.kind.get(topic)
        try:
            if kind == "plan":
                self._take_plan(decode(RoutePlan, value))
            elif kind == "decision":
                self._take_decision(decode(DecisionRecord, value))
            elif kind == "alert":
                self.alerts.appendleft(decode(FraudScore, value))
                self._bump_fraud()
            elif kind == "review":
                self.reviews.appendleft(decode(FraudReview, value))
                self._bump_fraud()
            elif kind == "order":
                self._take_order(decode(OrderEvent, value))
            elif kind == "vehicle":
                self._take_vehicle(decode(VehicleEvent, value))
        except DecodeError:
            self.skipped += 1

    def _fleet(self, fleet_id: str) -> FleetBoard:
        board = self.fleets.get(fleet_id)
        if board is None:
            board = self.fleets[fleet_id] = FleetBoard()
            while len(self.fleets) > MAX_FLEETS:
                self.fleets.popitem(last=False)
        return board

    def _changed(self, board: FleetBoard) -> None:
        board.version += 1
        self._bump()

    def _take_plan(self, plan: RoutePlan) -> None:
        board = self._fleet(plan.fleet_id)
        if board.plan is not None and board.plan.cycle_at > plan.cycle_at:
            return  # an older plan read after a newer one (partitions are read side by side)
        board.plan = plan
        board.members = frozenset(plan_members(plan))
        self.fleets.move_to_end(plan.fleet_id)
        self._changed(board)

    def _take_decision(self, record: DecisionRecord) -> None:
        board = self._fleet(record.fleet_id)
        if board.decisions and board.decisions[0].cycle_at >= record.cycle_at:
            return
        board.decisions.appendleft(record)
        self._changed(board)

    def _take_order(self, event: OrderEvent) -> None:
        key = (event.fleet_id, event.order_id)
        if event.location is None:  # cancel or deliver: it leaves every future plan
            self.orders.pop(key, None)
            return
        if self.orders.get(key) == event.location:
            return
        self.orders[key] = event.location
        self.orders.move_to_end(key)
        while len(self.orders) > MAX_ORDER_POSITIONS:
            self.orders.popitem(last=False)
        self._moved(event.fleet_id, event.order_id)

    def _take_vehicle(self, event: VehicleEvent) -> None:
        key = (event.fleet_id, event.vehicle_id)
        current = self.vehicles.get(key)
        if current is not None and (current[0] > event.occurred_at or current[1] == event.position):
            return  # an older fix, or the vehicle has not moved
        self.vehicles[key] = (event.occurred_at, event.position)
        self.vehicles.move_to_end(key)
        while len(self.vehicles) > MAX_VEHICLE_POSITIONS:
            self.vehicles.popitem(last=False)
        self._moved(event.fleet_id, event.vehicle_id)

    def _moved(self, fleet_id: str, entity: str) -> None:
        board = self.fleets.get(fleet_id)
        if board is not None and entity in board.members:
            self._changed(board)

    def _bump_fraud(self) -> None:
        self.fraud_version += 1
        self._bump()

    def _bump(self) -> None:
        self.version += 1
        self.wake()

    def wake(self) -> None:
        """Wake every waiter of wait_change."""
        self._bumped.set()
        self._bumped = asyncio.Event()

    async def wait_change(self, seen: int, timeout_s: float) -> bool:
        """Wait up to timeout_s for a version after `seen`; True when there is one."""
        if self.version != seen:
            return True
        try:
            await asyncio.wait_for(self._bumped.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    # ---------------------------------------------------------------------------------------- views

    def shown(self) -> list[str]:
        """The fleets on the page, in fleet id order: the most recently planned ones, with a plan or a decision."""
        recent = [f for f in reversed(self.fleets) if self.fleets[f].plan or self.fleets[f].decisions]
        return sorted(recent[:SHOWN_FLEETS])

    def positions(self, fleet_id: str, ids: Iterable[str]) -> tuple[dict[str, Location], dict[str, Location]]:
        """The known positions of these order and vehicle ids of the fleet: (orders, vehicles)."""
        orders, vehicles = {}, {}
        for entity in ids:
            if (location := self.orders.get((fleet_id, entity))) is not None:
                orders[entity] = location
            if (fix := self.vehicles.get((fleet_id, entity))) is not None:
                vehicles[entity] = fix[1]
        return orders, vehicles

    def fleet_view(self, fleet_id: str) -> dict[str, Any]:
        """The fleet's section of the page (map SVG, legend, unassigned, decisions), cached per version."""
        board = self.fleets[fleet_id]
        if board.cached is not None and board.cached[0] == board.version:
            return board.cached[1]
        view: dict[str, Any] = {"fleet_id": fleet_id, "version": board.version, "plan": None,
                                "decisions": [_decision_view(d) for d in board.decisions]}
        plan = board.plan
        if plan is not None:
            drawing = draw_plan(plan, *self.positions(fleet_id, board.members))
            view["plan"] = {
                "plan_id": plan.plan_id, "cycle_at": plan.cycle_at.isoformat(), "source": plan.source,
                "cost": plan.cost, "svg": to_svg(drawing), "missing": list(drawing.missing),
                "routes": [{"vehicle_id": r.vehicle_id, "colour": r.colour, "distance": round(r.distance),
                            "travel_s": round(r.travel_seconds),
                            "stops": [{"n": s.number, "order_id": s.order_id, "eta": s.eta.isoformat(),
                                       "eta_label": s.eta_label} for s in r.stops]}
                           for r in drawing.routes],
                "unassigned": [{"order_id": u.order_id, "reason": u.reason} for u in drawing.unassigned],
            }
        board.cached = (board.version, view)
        return view

    def fraud_view(self) -> dict[str, Any]:
        return {
            "version": self.fraud_version,
            "alerts": [{"transaction_id": a.transaction_id, "customer_id": a.customer_id,
                        "terminal_id": a.terminal_id, "score": round(a.score, 3),
                        "occurred_at": a.occurred_at.isoformat(), "model_version": a.model_version,
                        "reasons": [r.text for r in a.reasons]} for a in self.alerts],
            "reviews": [{"transaction_id": r.transaction_id, "customer_id": r.customer_id, "decision": r.decision,
                         "rationale": r.rationale, "score": round(r.score, 3), "model": r.model,
                         "latency_ms": round(r.latency_ms), "reviewed_at": r.reviewed_at.isoformat()}
                        for r in self.reviews],
        }

    def changes(self, sent: Sent) -> dict[str, Any] | None:
        """What changed since what `sent` says a client has (updated in place); None when nothing did."""
        shown = tuple(self.shown())
        fleets = {f: self.fleet_view(f) for f in shown if sent.fleets.get(f) != self.fleets[f].version}
        fraud = self.fraud_view() if sent.fraud != self.fraud_version else None
        if not fleets and fraud is None and sent.shown == shown:
            return None
        sent.fleets = {f: self.fleets[f].version for f in shown}
        sent.fraud, sent.shown = self.fraud_version, shown
        return {"now": datetime.now(UTC).isoformat(), "shown": list(shown), "fleets": fleets, "fraud": fraud}

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, as one JSON-able value (the /dispatch/board.json answer)."""
        changes = self.changes(Sent())
        assert changes is not None  # a fresh Sent always differs
        return changes


@dataclass
class Sent:
    """What one page has been sent: each fleet's version, the fraud version, the fleets listed."""

    fleets: dict[str, int] = field(default_factory=dict)
    fraud: int = -1
    shown: tuple[str, ...] | None = None
