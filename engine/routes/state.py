"""FleetState: the live state of one fleet, built from its events by an idempotent reducer that costs O(change)."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

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


ENTITY_SEPARATOR = "\x1f"  # never in an Identifier, so "fleet<US>kind<US>id" keys split unambiguously
OPEN_ORDER, CLOSED_ORDER, VEHICLE, TRAFFIC, META = "o", "c", "v", "t", "m"
Records = dict[str, bytes | None]  # changelog record suffix ("kind<US>id") -> value, None deletes it


class FleetState:
    """Open orders, vehicles and traffic of one fleet, changed in place by apply() at the cost of the change.

    Every event touches one entity (an order, a vehicle, a traffic area) plus a small meta record; take_changes()
    hands the changed entity records to the changelog, so no record ever holds the whole fleet and
    from_records() rebuilds the state from them after a restart.
    """

    def __init__(self, fleet_id: str) -> None:
        self.fleet_id = fleet_id
        self.orders: dict[str, OrderEvent] = {}
        self.closed_orders: dict[str, datetime] = {}
        self.vehicles: dict[str, VehicleEvent] = {}
        self.traffic: dict[str, TrafficEvent] = {}
        self.last_event_at: datetime | None = None
        self.events_applied = 0
        # Highest applied offset per "topic/partition": a fleet is one key, so one partition per topic.
        self.applied_offsets: dict[str, int] = {}
        self.partition: int | None = None  # the input partition the fleet lives on (owner checks)
        self._closing: list[tuple[datetime, str]] = []  # heap: closed orders, oldest first, for forgetting
        self._expiring: list[tuple[datetime, str]] = []  # heap: traffic by valid_until, for dropping
        self._dirty: set[tuple[str, str]] = set()
        self._open_demand = 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FleetState) and self._content() == other._content()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def _content(self) -> tuple[object, ...]:
        return (self.fleet_id, self.orders, self.closed_orders, self.vehicles, self.traffic, self.last_event_at,
                self.events_applied, self.applied_offsets)

    def apply(self, event: FleetEvent, source: SourcePosition | None = None) -> bool:
        """Apply event in place; False (and nothing changed) when its source offset was applied already."""
        if event.fleet_id not in (None, self.fleet_id):
            raise ValueError(f"event for fleet {event.fleet_id} applied to fleet {self.fleet_id}")
        if source is not None:
            slot = f"{source.topic}/{source.partition}"
            if source.offset <= self.applied_offsets.get(slot, -1):
                return False  # redelivered after a restart: already in this state
            self.applied_offsets[slot] = source.offset
            self.partition = source.partition
        if isinstance(event, OrderEvent):
            self._apply_order(event)
        elif isinstance(event, VehicleEvent):
            current = self.vehicles.get(event.vehicle_id)
            if current is None or current.occurred_at <= event.occurred_at:  # else an older fix arriving late
                self.vehicles[event.vehicle_id] = event
                self._dirty.add((VEHICLE, event.vehicle_id))
        else:
            self.traffic[event.event_id] = event
            heapq.heappush(self._expiring, (event.valid_until, event.event_id))
            self._dirty.add((TRAFFIC, event.event_id))
        self.last_event_at = event.occurred_at if self.last_event_at is None else max(self.last_event_at,
                                                                                      event.occurred_at)
        self._drop_expired_traffic(self.last_event_at)
        self.events_applied += 1
        self._dirty.add((META, ""))
        return True

    def _apply_order(self, event: OrderEvent) -> None:
        order_id = event.order_id
        if order_id in self.closed_orders:
            return  # cancelled or delivered orders stay closed
        current = self.orders.get(order_id)
        if event.action in ("create", "update"):
            if current is not None and current.occurred_at > event.occurred_at:
                return  # stale update
            self._open_demand += (event.demand or 0) - ((current.demand or 0) if current else 0)
            self.orders[order_id] = event
            self._dirty.add((OPEN_ORDER, order_id))
            return
        # A close is final whatever its time: ignoring one older than the stored update would leave the order
        # open or closed depending on which of the two arrived first.
        if current is not None:
            self._open_demand -= current.demand or 0
            del self.orders[order_id]
            self._dirty.add((OPEN_ORDER, order_id))
        self.closed_orders[order_id] = event.occurred_at
        heapq.heappush(self._closing, (event.occurred_at, order_id))
        self._dirty.add((CLOSED_ORDER, order_id))
        self._forget_closed(event.occurred_at - CLOSED_ORDER_MEMORY)

    def _forget_closed(self, horizon: datetime) -> None:
        """Forget closed ids older than horizon: amortised O(forgotten), via the heap of close times."""
        while self._closing and self._closing[0][0] < horizon:
            closed_at, order_id = heapq.heappop(self._closing)
            if self.closed_orders.get(order_id) == closed_at:
                del self.closed_orders[order_id]
                self._dirty.add((CLOSED_ORDER, order_id))

    def _drop_expired_traffic(self, now: datetime) -> None:
        """Expired traffic is dropped as event time moves on, whatever the event (amortised O(dropped))."""
        while self._expiring and self._expiring[0][0] <= now:
            valid_until, event_id = heapq.heappop(self._expiring)
            current = self.traffic.get(event_id)
            if current is not None and current.valid_until == valid_until:
                del self.traffic[event_id]
                self._dirty.add((TRAFFIC, event_id))

    def copy(self) -> FleetState:
        """A snapshot (the entity maps copied, events shared: they are immutable) for work off the event loop."""
        other = FleetState(self.fleet_id)
        other.orders, other.closed_orders = dict(self.orders), dict(self.closed_orders)
        other.vehicles, other.traffic = dict(self.vehicles), dict(self.traffic)
        other.last_event_at, other.events_applied = self.last_event_at, self.events_applied
        other.applied_offsets, other.partition = dict(self.applied_offsets), self.partition
        return other

    def active_traffic(self, now: datetime) -> list[TrafficEvent]:
        """Traffic events in force at now."""
        return [t for t in self.traffic.values() if t.valid_from <= now < t.valid_until]

    def summary(self, now: datetime) -> FleetSummary:
        """Counts for dashboards and the Redis summary, as of now."""
        available = [v for v in self.vehicles.values() if v.status in ("available", "en_route")]
        return FleetSummary(
            fleet_id=self.fleet_id,
            open_orders=len(self.orders),
            open_demand=self._open_demand,
            closed_orders=len(self.closed_orders),
            vehicles=len(self.vehicles),
            vehicles_available=len(available),
            free_capacity=sum(max(v.capacity - v.load, 0) for v in available),
            active_traffic=len(self.active_traffic(now)),
            events_applied=self.events_applied,
            last_event_at=self.last_event_at,
        )

    # ------------------------------------------------------------------------------------------ records

    def take_changes(self) -> Records:
        """The records changed since the last call (None: delete the record); what the changelog must get."""
        # The meta record (applied offsets, counters) goes last: a crash part way through the writes then loses it
        # too, and the batch is applied again. Written first, it said an order was applied whose record was lost.
        dirty = sorted(self._dirty, key=lambda item: item[0] == META)
        changes = {f"{kind}{ENTITY_SEPARATOR}{entity}": self._record(kind, entity) for kind, entity in dirty}
        self._dirty.clear()
        return changes

    def records(self) -> Records:
        """Every record of the state (what a fresh changelog would hold)."""
        keys = [(OPEN_ORDER, o) for o in self.orders] + [(CLOSED_ORDER, o) for o in self.closed_orders] + [
            (VEHICLE, v) for v in self.vehicles] + [(TRAFFIC, t) for t in self.traffic] + [(META, "")]
        return {f"{kind}{ENTITY_SEPARATOR}{entity}": self._record(kind, entity) for kind, entity in keys}

    def _record(self, kind: str, entity: str) -> bytes | None:
        if kind == OPEN_ORDER:
            order = self.orders.get(entity)
            return None if order is None else order.to_bytes()
        if kind == CLOSED_ORDER:
            closed_at = self.closed_orders.get(entity)
            return None if closed_at is None else closed_at.isoformat().encode()
        if kind == VEHICLE:
            vehicle = self.vehicles.get(entity)
            return None if vehicle is None else vehicle.to_bytes()
        if kind == TRAFFIC:
            area = self.traffic.get(entity)
            return None if area is None else area.to_bytes()
        return json.dumps({"last_event_at": None if self.last_event_at is None else self.last_event_at.isoformat(),
                           "events_applied": self.events_applied, "applied_offsets": self.applied_offsets,
                           "partition": self.partition}, sort_keys=True).encode()

    @classmethod
    def from_records(cls, fleet_id: str, records: Iterable[tuple[str, bytes]]) -> FleetState:
        """The state whose records these are (the order of records does not matter)."""
        state = cls(fleet_id)
        for suffix, raw in records:
            kind, _, entity = suffix.partition(ENTITY_SEPARATOR)
            if kind == OPEN_ORDER:
                order = OrderEvent.from_bytes(raw)
                state.orders[entity] = order
                state._open_demand += order.demand or 0
            elif kind == CLOSED_ORDER:
                state.closed_orders[entity] = datetime.fromisoformat(raw.decode())
                heapq.heappush(state._closing, (state.closed_orders[entity], entity))
            elif kind == VEHICLE:
                state.vehicles[entity] = VehicleEvent.from_bytes(raw)
            elif kind == TRAFFIC:
                area = TrafficEvent.from_bytes(raw)
                state.traffic[entity] = area
                heapq.heappush(state._expiring, (area.valid_until, entity))
            elif kind == META:
                meta = json.loads(raw)
                state.last_event_at = None if meta["last_event_at"] is None else datetime.fromisoformat(
                    meta["last_event_at"])
                state.events_applied = int(meta["events_applied"])
                state.applied_offsets = {str(k): int(v) for k, v in meta["applied_offsets"].items()}
                state.partition = meta.get("partition")
        return state


def record_key(fleet_id: str, suffix: str) -> bytes:
    """The changelog key of one record of a fleet."""
    return f"{fleet_id}{ENTITY_SEPARATOR}{suffix}".encode()


def split_record_key(key: bytes) -> tuple[str, str]:
    """(fleet id, record suffix) of a changelog key."""
    fleet_id, _, suffix = key.decode().partition(ENTITY_SEPARATOR)
    return fleet_id, suffix


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


def read_fleet_event(schema: type[WireModel], value: bytes | None, key: bytes | None, now: datetime,
                     max_future_s: float) -> tuple[FleetEvent, str]:
    """A fleet input message as (event, fleet id); DecodeError says why it is rejected (the live agent and the
    backtest accept exactly the same input).

    An event dated more than max_future_s after `now` (when it was received) is rejected: one bad clock must
    not move the fleet's event time, which forgets closed orders, expires traffic and outdates position fixes.
    """
    event = decode(schema, value)
    fleet_id = event_fleet(event, key, schema.__name__)
    assert isinstance(event, (OrderEvent, VehicleEvent, TrafficEvent))
    if event.occurred_at > now + timedelta(seconds=max_future_s):
        raise DecodeError(schema.__name__, [ErrorDetail(
            location="occurred_at", error_type="in_future",
            message=f"{event.occurred_at.isoformat()} is more than {max_future_s:g} s after the time received "
                    "(ENGINE_ROUTE__MAX_FUTURE_S)")])
    return event, fleet_id
