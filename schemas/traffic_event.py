"""TrafficEvent: travel slows down (or recovers) in an area for a while."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from schemas.location import Location
from schemas.wire_model import Identifier, WireModel, WireValue


class ZoneArea(WireValue):
    """A named zone (taxi zone, postcode district) known to the fleet's map."""

    kind: Literal["zone"]
    zone_id: Identifier


class CircleArea(WireValue):
    """Everything within radius_m of a centre point (same units as the centre: metres or plane units)."""

    kind: Literal["circle"]
    center: Location
    radius_m: float = Field(gt=0, le=1_000_000, allow_inf_nan=False)


class SegmentArea(WireValue):
    """A road segment between two points; legs passing near it are affected."""

    kind: Literal["segment"]
    start: Location
    end: Location
    width_m: float = Field(default=200.0, gt=0, le=100_000, allow_inf_nan=False)


TrafficArea = Annotated[ZoneArea | CircleArea | SegmentArea, Field(discriminator="kind")]


class TrafficEvent(WireModel):
    """Travel times in an area are divided by speed_factor between valid_from and valid_until."""

    event_id: Identifier
    fleet_id: Identifier | None = Field(default=None, description="The fleet affected, or None for a region.")
    region: Identifier | None = Field(default=None, description="A region whose fleets are all affected.")
    occurred_at: AwareDatetime
    area: TrafficArea
    speed_factor: float = Field(
        gt=0, le=2.0, allow_inf_nan=False, description="1.0 free flow, 0.5 half speed, 0.2 a jam."
    )
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    cause: Annotated[str, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _scoped_and_ordered(self) -> Self:
        if self.fleet_id is None and self.region is None:
            raise ValueError("a traffic event needs a fleet_id or a region")
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self

    @property
    def partition_key(self) -> str:
        """The Kafka key: the fleet, else the region."""
        return self.fleet_id or f"region:{self.region}"
