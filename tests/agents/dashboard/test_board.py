"""The dispatch page's board: records in, per-fleet views and changes out, provenance in words (no Kafka)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import timedelta

from agents.dashboard.board import FRAUD_ITEMS, Board, Sent, provenance
from engine.settings import TopicSettings
from schemas import (
    CandidateSummary,
    DecisionRecord,
    FraudReview,
    FraudScore,
    GeoPoint,
    OrderEvent,
    ScoreReason,
    TimeWindow,
    VehicleEvent,
    Violation,
)
from tests.engine.routes.test_plan_drawing import sample_plan
from tests.factories import T0

TOPICS = TopicSettings()
BROKEN = Violation(vehicle_id="v0", order_id="o1", constraint="capacity", excess=2, message="v0 carries 12 of 10")


def record(chosen: str | None, *candidates: CandidateSummary, fleet: str = "fleet-d", minute: int = 0,
           **fields: object) -> DecisionRecord:
    return DecisionRecord.model_validate({
        "decision_id": f"{fleet}@{minute}", "fleet_id": fleet, "cycle_at": T0 + timedelta(minutes=minute),
        "inputs_digest": "0" * 64, "candidates": list(candidates), "chosen_source": chosen,
        "published": chosen is not None, "stage_ms": {"problem": 1.5, "solver": 200.0}, **fields}, strict=False)


def cand(source: str, feasible: bool, violations: int = 0) -> CandidateSummary:
    return CandidateSummary.model_validate({"source": source, "feasible": feasible,
                                            "cost": 100.0 if feasible else None,
                                            "violations": [BROKEN] * violations}, strict=False)


def positions_on(board: Board, fleet: str = "fleet-d") -> None:
    """Order and vehicle events with the sample plan's positions, as the topics carry them."""
    _, orders, vehicles = sample_plan(fleet)
    shift = TimeWindow(start=T0, end=T0 + timedelta(hours=8))
    for order_id, location in orders.items():
        board.take(TOPICS.orders, OrderEvent(
            event_id=f"{order_id}-c", action="create", fleet_id=fleet, order_id=order_id, occurred_at=T0,
            location=location, demand=2, time_window=shift).to_bytes())
    for vehicle_id, location in vehicles.items():
        board.take(TOPICS.vehicles, VehicleEvent(
            event_id=f"{vehicle_id}-0", fleet_id=fleet, vehicle_id=vehicle_id, occurred_at=T0, position=location,
            capacity=10, shift=shift).to_bytes())


def test_provenance_names_where_the_plan_came_from() -> None:
    """LLM as proposed, repaired, beaten or rejected (with its violations), solver or previous plan, or nothing."""
    assert provenance(record("llm", cand("llm", True))) == "LLM as proposed"
    assert provenance(record("llm_repaired", cand("llm", False, 3))) == "LLM repaired (3 violation(s) fixed)"
    assert provenance(record("solver", cand("llm", True), cand("solver", True))) == "LLM beaten by the solver"
    assert provenance(record("previous_plan", cand("llm", False, 2))) == "LLM rejected (2 violation(s)): previous plan"
    assert provenance(record("solver", llm_asked=False)) == "solver (no LLM turn this cycle)"
    assert provenance(record("solver", llm_parse_ok=False, llm_asked=True)) == "solver (LLM answer did not parse)"
    assert provenance(record(None)) == "nothing published: no feasible plan"


def test_a_plan_with_known_positions_becomes_a_map_and_a_legend() -> None:
    """The fleet's view carries the SVG with one route line per vehicle, stops in order, unassigned reasons."""
    board = Board(TOPICS)
    positions_on(board)
    plan, _, _ = sample_plan()
    board.take(TOPICS.routes, plan.to_bytes())
    board.take(TOPICS.decisions, record("solver", cand("llm", False, 7), cand("solver", True)).to_bytes())
    view = board.snapshot()["fleets"]["fleet-d"]
    svg = ET.fromstring(view["plan"]["svg"])
    assert len([p for p in svg.iter("{http://www.w3.org/2000/svg}path") if p.get("class") == "route-line"]) == 2
    assert [s["order_id"] for s in view["plan"]["routes"][1]["stops"]] == ["o5", "o4", "o3"]
    assert view["plan"]["unassigned"] == [{"order_id": "o6", "reason": plan.unassigned[0].reason}]
    assert view["plan"]["missing"] == []
    decision = view["decisions"][0]
    assert decision["provenance"] == "LLM rejected (7 violation(s)): solver"
    assert decision["candidates"][0]["violation_count"] == 7 and len(decision["candidates"][0]["violations"]) == 5
    assert decision["stage_ms"] == {"problem": 1.5, "solver": 200.0}


def test_changes_hand_out_only_what_moved() -> None:
    """A client gets everything once, then nothing until the fleet changes; an older plan changes nothing."""
    board = Board(TOPICS)
    plan, _, _ = sample_plan()
    board.take(TOPICS.routes, plan.to_bytes())
    sent = Sent()
    first = board.changes(sent)
    assert first is not None and set(first["fleets"]) == {"fleet-d"} and first["fraud"] is not None
    assert board.changes(sent) is None
    older = plan.model_copy(update={"cycle_at": plan.cycle_at - timedelta(seconds=5), "plan_id": "older"})
    board.take(TOPICS.routes, older.to_bytes())
    assert board.changes(sent) is None
    board.take(TOPICS.orders, b"{not json")
    assert board.skipped == 1 and board.changes(sent) is None
    positions_on(board)  # the plan's orders now have positions: its map changes
    again = board.changes(sent)
    assert again is not None and again["fraud"] is None
    assert again["fleets"]["fleet-d"]["plan"]["missing"] == []


def test_fraud_lists_keep_the_newest_and_are_bounded() -> None:
    """Alerts and reviews are kept newest first, at most FRAUD_ITEMS each."""
    board = Board(TOPICS)
    for i in range(FRAUD_ITEMS + 5):
        board.take(TOPICS.fraud_alerts, FraudScore(
            transaction_id=f"t{i}", customer_id="c1", terminal_id="m1", occurred_at=T0, score=0.9, alert=True,
            reasons=[ScoreReason(code="amount", text="amount far above the customer's usual", weight=0.4)],
            model_version="m", scored_at=T0).to_bytes())
    board.take(TOPICS.fraud_reviews, FraudReview(
        transaction_id="t3", customer_id="c1", decision="fraud", rationale="new terminal, large amount", score=0.6,
        model="tiny-granite", prompt_hash="ab", reviewed_at=T0, cycle_at=T0, latency_ms=12.0).to_bytes())
    fraud = board.fraud_view()
    assert len(fraud["alerts"]) == FRAUD_ITEMS and fraud["alerts"][0]["transaction_id"] == f"t{FRAUD_ITEMS + 4}"
    assert fraud["alerts"][0]["reasons"] == ["amount far above the customer's usual"]
    assert fraud["reviews"][0]["decision"] == "fraud"


async def test_wait_change_wakes_on_a_new_record() -> None:
    """A waiter returns True as soon as a record moves the board, False after its timeout otherwise."""
    board = Board(TOPICS)
    assert await board.wait_change(board.version, 0.05) is False
    plan, _, _ = sample_plan()
    waiter = asyncio.ensure_future(board.wait_change(board.version, 5.0))
    await asyncio.sleep(0)
    board.take(TOPICS.routes, plan.to_bytes())
    assert await asyncio.wait_for(waiter, 1.0) is True


def test_moves_of_entities_outside_the_plan_change_nothing() -> None:
    """A vehicle fix or order of another fleet, or one not in the plan, leaves the fleet's version alone."""
    board = Board(TOPICS)
    plan, _, _ = sample_plan()
    board.take(TOPICS.routes, plan.to_bytes())
    version = board.fleets["fleet-d"].version
    shift = TimeWindow(start=T0, end=T0 + timedelta(hours=8))
    board.take(TOPICS.vehicles, VehicleEvent(event_id="x-0", fleet_id="fleet-d", vehicle_id="v9", occurred_at=T0,
                                             position=GeoPoint(lat=53.0, lon=-2.0), capacity=1,
                                             shift=shift).to_bytes())
    board.take(TOPICS.vehicles, VehicleEvent(event_id="y-0", fleet_id="other", vehicle_id="v0", occurred_at=T0,
                                             position=GeoPoint(lat=53.0, lon=-2.0), capacity=1,
                                             shift=shift).to_bytes())
    assert board.fleets["fleet-d"].version == version
