"""Tests of RoutePlan and its parts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from schemas import PlannedStop, RoutePlan, UnassignedOrder, VehicleRoute

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def plan(**changes: object) -> RoutePlan:
    stop = PlannedStop(order_id="o1", arrival=NOW, service_start=NOW + timedelta(minutes=1),
                       departure=NOW + timedelta(minutes=3), load_after=2)
    fields: dict[str, object] = {
        "plan_id": RoutePlan.make_id("f1", NOW), "fleet_id": "f1", "cycle_at": NOW,
        "routes": [VehicleRoute(vehicle_id="v1", stops=[stop], travel_seconds=60.0, distance=900.0)],
        "unassigned": [UnassignedOrder(order_id="o2", reason="no vehicle reaches it in its window")],
        "cost": 60.0, "source": "llm_repaired",
    }
    return RoutePlan(**{**fields, **changes})  # type: ignore[arg-type]


def as_json(**changes: object) -> str:
    return json.dumps({**json.loads(plan().to_bytes()), **changes})


def test_plan_id_is_fleet_at_cycle() -> None:
    """The same fleet and cycle always give the same id, so republishing is idempotent."""
    assert RoutePlan.make_id("f1", NOW) == "f1@2026-03-02T09:00:00+00:00"
    assert RoutePlan.make_id("f1", NOW) == RoutePlan.make_id("f1", NOW.replace())
    assert RoutePlan.make_id("f1", NOW) != RoutePlan.make_id("f2", NOW)


def test_round_trip_keeps_stops_and_unassigned() -> None:
    """A plan with routes and unassigned orders survives to_bytes then from_bytes."""
    original = plan()
    again = RoutePlan.from_bytes(original.to_bytes())
    assert again == original
    assert again.routes[0].stops[0].order_id == "o1" and again.unassigned[0].order_id == "o2"


def test_other_time_zones_survive() -> None:
    """A cycle time in another time zone round-trips to the same instant."""
    cycle = datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    original = plan(cycle_at=cycle)
    assert RoutePlan.from_bytes(original.to_bytes()).cycle_at == NOW


def test_unchecked_plans_cannot_exist() -> None:
    """checked is always true: a plan claiming checked=false is rejected."""
    with pytest.raises(ValidationError, match="checked"):
        RoutePlan.model_validate_json(as_json(checked=False))


def test_unknown_source_rejected() -> None:
    """Only the four documented plan sources exist."""
    with pytest.raises(ValidationError, match="source"):
        RoutePlan.model_validate_json(as_json(source="guess"))


@pytest.mark.parametrize("cost", ["-1", "NaN", "Infinity"])
def test_cost_finite_and_non_negative(cost: str) -> None:
    """A negative or non-finite cost is rejected."""
    raw = as_json(cost="COST").replace('"COST"', cost)
    with pytest.raises(ValidationError, match="cost"):
        RoutePlan.model_validate_json(raw)


def test_negative_load_after_rejected() -> None:
    """A stop cannot leave a negative load on board."""
    with pytest.raises(ValidationError, match="load_after"):
        PlannedStop(order_id="o1", arrival=NOW, service_start=NOW, departure=NOW, load_after=-1)


def test_naive_stop_time_rejected() -> None:
    """Stop times need a time zone."""
    with pytest.raises(ValidationError, match="arrival"):
        PlannedStop(order_id="o1", arrival=datetime(2026, 3, 2, 9), service_start=NOW, departure=NOW, load_after=0)


def test_unassigned_reason_bounded() -> None:
    """The reason an order is unassigned is bounded text."""
    with pytest.raises(ValidationError, match="reason"):
        UnassignedOrder(order_id="o1", reason="x" * 501)
