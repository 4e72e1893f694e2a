"""Valid wire events for tests, built through the real schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import GeoPoint, OrderEvent, TimeWindow, TrafficEvent, VehicleEvent

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def order(fleet: str, order_id: str, *, minute: float = 0, action: str = "create", demand: int = 2,
          lat: float = 53.40, lon: float = -2.98) -> OrderEvent:
    at = T0 + timedelta(minutes=minute)
    if action in ("cancel", "deliver"):
        return OrderEvent(event_id=f"{order_id}-{action}-{minute}", action=action, fleet_id=fleet,  # type: ignore[arg-type]
                          order_id=order_id, occurred_at=at)
    return OrderEvent(
        event_id=f"{order_id}-{action}-{minute}", action=action, fleet_id=fleet, order_id=order_id,  # type: ignore[arg-type]
        occurred_at=at, location=GeoPoint(lat=lat, lon=lon), demand=demand,
        time_window=TimeWindow(start=at, end=at + timedelta(hours=2)), service_time_s=120,
    )


def vehicle(fleet: str, vehicle_id: str, *, minute: float = 0, capacity: int = 20, load: int = 0,
            status: str = "available") -> VehicleEvent:
    at = T0 + timedelta(minutes=minute)
    return VehicleEvent(
        event_id=f"{vehicle_id}-{minute}", fleet_id=fleet, vehicle_id=vehicle_id, occurred_at=at,
        position=GeoPoint(lat=53.41, lon=-2.97), capacity=capacity, load=load,
        shift=TimeWindow(start=T0, end=T0 + timedelta(hours=8)), status=status,  # type: ignore[arg-type]
    )


def traffic(fleet: str, event_id: str, *, minute: float = 0, minutes_valid: float = 30,
            speed_factor: float = 0.5) -> TrafficEvent:
    at = T0 + timedelta(minutes=minute)
    return TrafficEvent.model_validate({
        "event_id": event_id, "fleet_id": fleet, "occurred_at": at,
        "area": {"kind": "circle", "center": {"lat": 53.40, "lon": -2.98}, "radius_m": 1500},
        "speed_factor": speed_factor, "valid_from": at, "valid_until": at + timedelta(minutes=minutes_valid),
    }, strict=False)
