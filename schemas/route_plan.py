"""RoutePlan: the checked plan for one fleet at one cycle."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.wire_model import Identifier, WireModel, WireValue

PlanSource = Literal["llm", "llm_repaired", "previous_plan", "solver"]


class PlannedStop(WireValue):
    """One order served by a vehicle, with the times the check computed."""

    order_id: Identifier
    arrival: AwareDatetime
    service_start: AwareDatetime
    departure: AwareDatetime
    load_after: int = Field(ge=0)


class VehicleRoute(WireValue):
    """The ordered stops of one vehicle from its current position."""

    vehicle_id: Identifier
    stops: list[PlannedStop]
    travel_seconds: float = Field(ge=0, allow_inf_nan=False)
    distance: float = Field(ge=0, allow_inf_nan=False)


class UnassignedOrder(WireValue):
    """An order no feasible plan could serve, and why."""

    order_id: Identifier
    reason: str = Field(max_length=500)


class RoutePlan(WireModel):
    """Published only after the OR-Tools check passed; plan_id makes republishing idempotent."""

    plan_id: str = Field(description="fleet_id@cycle_at: the same cycle always has the same id.")
    fleet_id: Identifier
    cycle_at: AwareDatetime = Field(description="The clock value the decision was made for.")
    routes: list[VehicleRoute]
    unassigned: list[UnassignedOrder] = Field(default_factory=list)
    cost: float = Field(ge=0, allow_inf_nan=False)
    source: PlanSource
    checked: Literal[True] = Field(default=True, description="Always true: unchecked plans are never published.")

    @staticmethod
    def make_id(fleet_id: str, cycle_at: AwareDatetime) -> str:
        return f"{fleet_id}@{cycle_at.isoformat()}"
