"""FleetState: the live state of one fleet, built from its events by a pure, idempotent reducer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from engine.settings import TopicSettings
from schemas import DecodeError, ErrorDetail, OrderEvent, TrafficEvent, VehicleEvent, WireModel, decode

FleetEvent = OrderEvent | VehicleEvent | TrafficEvent

# Cancelled/delivered ids are remembered this long so a late update cannot bring an order back.
CLOSED_ORDER_MEMORY = timedelta(days=2)


class SourcePosition(BaseModel):
    """Where an event came from in Kafka; lets the reducer skip redelivered messages."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int


class FleetSummary(BaseModel):
    """What an app needs at a glance about one fleet (written to Redis)."""

    model_config = ConfigDict(frozen=True)

    fleet_id: str
    open_orders: int
    open_demand: int
    closed_orders: int
    vehicles: int
    vehicles_available: int
    free_capacity: int
    active_traffic: int
    events_applied: int
    last_event_at: datetime | None


class FleetState(BaseModel):
    """Open orders, vehicles and traffic of one fleet; apply() returns a new state."""

    model_config = ConfigDict(frozen=True)

    fleet_id: str
    orders: dict[str, OrderEvent] = Field(default_factory=dict)
    closed_orders: dict[str, datetime] = Field(default_factory=dict)
    vehicles: dict[str, VehicleEvent] = Field(default_factory=dict)
    traffic: dict[str, TrafficEvent] = Field(default_factory=dict)
    last_event_at: datetime | None = None
    events_applied: int = 0
    # Highest applied offset per "topic/partition": a fleet is one key, so one partition per topic.
    applied_offsets: dict[str, int] = Field(default_factory=dict)

    def apply(self, event: FleetEvent, source: SourcePosition | None = None) -> Self:
        """The state after event; the same event (same source offset) applied twice changes nothing."""
        if event.fleet_id not in (None, self.fleet_id):
            raise ValueError(f"event for fleet {event.fleet_id} applied to fleet {self.fleet_id}")
        offsets = self.applied_offsets
        if source is not None:
            slot = f"{source.topic}/{source.partition}"
            if source.offset <= offsets.get(slot, -1):
                return self  # redelivered after a restart: already in this state
            offsets = {**offsets, slot: source.offset}
        changes = self._changes_for(event)
        last = event.occurred_at if self.last_event_at is None else max(self.last_event_at, event.occurred_at)
        # Expired traffic is dropped as event time moves on, whatever the event.
        traffic: dict[str, TrafficEvent] = changes.get("traffic", self.traffic)  # type: ignore[assignment]
        changes["traffic"] = {k: t for k, t in traffic.items() if t.valid_until > last}
        return self.model_copy(
            update={**changes, "last_event_at": last, "events_applied": self.events_applied + 1,
                    "applied_offsets": offsets}
        )

    def _changes_for(self, event: FleetEvent) -> dict[str, object]:
        if isinstance(event, OrderEvent):
            return self._order_changes(event)
        if isinstance(event, VehicleEvent):
            current = self.vehicles.get(event.vehicle_id)
            if current is not None and current.occurred_at > event.occurred_at:
                return {}  # an older position fix arriving late
            return {"vehicles": {**self.vehicles, event.vehicle_id: event}}
        return {"traffic": {**self.traffic, event.event_id: event}}

    def _order_changes(self, event: OrderEvent) -> dict[str, object]:
        order_id = event.order_id
        if order_id in self.closed_orders:
            return {}  # cancelled or delivered orders stay closed
        if event.action in ("create", "update"):
            current = self.orders.get(order_id)
            if current is not None and current.occurred_at > event.occurred_at:
                return {}  # stale update
            return {"orders": {**self.orders, order_id: event}}
        # A close is final whatever its time: ignoring one older than the stored update would leave the order
        # open or closed depending on which of the two arrived first.
        orders = {k: v for k, v in self.orders.items() if k != order_id}
        horizon = event.occurred_at - CLOSED_ORDER_MEMORY
        closed = {k: at for k, at in self.closed_orders.items() if at >= horizon}
        closed[order_id] = event.occurred_at
        return {"orders": orders, "closed_orders": closed}

    def active_traffic(self, now: datetime) -> list[TrafficEvent]:
        """Traffic events in force at now."""
        return [t for t in self.traffic.values() if t.valid_from <= now < t.valid_until]

    def summary(self, now: datetime) -> FleetSummary:
        """Counts for dashboards and the Redis summary, as of now."""
        available = [v for v in self.vehicles.values() if v.status in ("available", "en_route")]
        return FleetSummary(
            fleet_id=self.fleet_id,
            open_orders=len(self.orders),
            open_demand=sum(o.demand or 0 for o in self.orders.values()),
            closed_orders=len(self.closed_orders),
            vehicles=len(self.vehicles),
            vehicles_available=len(available),
            free_capacity=sum(max(v.capacity - v.load, 0) for v in available),
            active_traffic=len(self.active_traffic(now)),
            events_applied=self.events_applied,
            last_event_at=self.last_event_at,
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        return cls.model_validate_json(raw)


def event_fleet(event: WireModel, key: bytes | None, schema: str) -> str:
    """The fleet id of an event, which must equal its Kafka key so one fleet lives on one partition."""
    assert isinstance(event, (OrderEvent, VehicleEvent, TrafficEvent))
    fleet_id = event.fleet_id if not isinstance(event, TrafficEvent) else event.partition_key
    if key is None or key.decode("utf-8", "replace") != fleet_id:
        shown = None if key is None else key.decode("utf-8", "replace")
        raise DecodeError(
            schema,
            [ErrorDetail(location="(key)", message=f"Kafka key {shown!r} must equal {fleet_id!r}",
                         error_type="key_mismatch")],
        )
    return fleet_id


def fleet_input_schemas(topics: TopicSettings) -> dict[str, type[WireModel]]:
    """The fleet input topics and the schema each one's messages must follow."""
    return {topics.orders: OrderEvent, topics.vehicles: VehicleEvent, topics.traffic: TrafficEvent}


def read_fleet_event(schema: type[WireModel], value: bytes | None, key: bytes | None) -> tuple[FleetEvent, str]:
    """A fleet input message as (event, fleet id); DecodeError says why it is rejected (the live agent and the
    backtest accept exactly the same input)."""
    event = decode(schema, value)
    fleet_id = event_fleet(event, key, schema.__name__)
    assert isinstance(event, (OrderEvent, VehicleEvent, TrafficEvent))
    return event, fleet_id
