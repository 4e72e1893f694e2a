"""Places and time windows shared by the logistics events."""

from __future__ import annotations

import math
from typing import Annotated, Any, Self

from pydantic import AwareDatetime, Discriminator, Field, Tag, model_validator

from schemas.wire_model import WireValue


class GeoPoint(WireValue):
    """A WGS84 point; travel times between GeoPoints use great-circle distance."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)

    @model_validator(mode="after")
    def _finite(self) -> Self:
        if not (math.isfinite(self.lat) and math.isfinite(self.lon)):
            raise ValueError("lat and lon must be finite numbers")
        return self


class PlanePoint(WireValue):
    """A point on a flat x/y plane (benchmarks, depots on a grid); Euclidean distance."""

    x: float = Field(allow_inf_nan=False)
    y: float = Field(allow_inf_nan=False)


def _location_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "lat" in value or "lon" in value:
            return "geo"
        if "x" in value or "y" in value:
            return "plane"
        return None
    if isinstance(value, GeoPoint):
        return "geo"
    if isinstance(value, PlanePoint):
        return "plane"
    return None


Location = Annotated[
    Annotated[GeoPoint, Tag("geo")] | Annotated[PlanePoint, Tag("plane")],
    Discriminator(
        _location_kind,
        custom_error_type="invalid_location",
        custom_error_message="a location is either {lat, lon} or {x, y}",
    ),
]


class TimeWindow(WireValue):
    """An interval [start, end] with time-zone-aware ends."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"time window ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})")
        return self
