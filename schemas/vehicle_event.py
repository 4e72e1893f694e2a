"""VehicleEvent: where a vehicle is, what it can carry and when its shift ends."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.location import Location, TimeWindow
from schemas.wire_model import Identifier, WireModel

VehicleStatus = Literal["available", "en_route", "on_break", "offline"]


class VehicleEvent(WireModel):
    """The latest known state of one vehicle (a full snapshot, not a delta)."""

    event_id: Identifier
    fleet_id: Identifier
    vehicle_id: Identifier
    occurred_at: AwareDatetime = Field(description="Event time of this position fix.")
    position: Location
    capacity: int = Field(ge=0, le=1_000_000, description="Total capacity in the same units as order demand.")
    load: int = Field(default=0, ge=0, le=1_000_000, description="Capacity already used on board.")
    shift: TimeWindow
    status: VehicleStatus = "available"
    current_stop: Identifier | None = Field(default=None, description="Order being served now, if any.")
    committed_stops: list[Identifier] = Field(
        default_factory=list, max_length=500, description="Orders promised next, in order; kept first in any plan."
    )
