"""Tests of FleetState: the pure, idempotent reducer of fleet events."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.routes.state import CLOSED_ORDER_MEMORY, FleetEvent, FleetState, SourcePosition
from schemas import TrafficEvent
from tests.factories import T0, order, traffic, vehicle


def at(offset: int, topic: str = "orders") -> SourcePosition:
    return SourcePosition(topic=topic, partition=0, offset=offset)


def state_of(*events: FleetEvent) -> FleetState:
    state = FleetState(fleet_id="f")
    for event in events:
        state = state.apply(event)
    return state


def test_create_update_cancel() -> None:
    """Orders are created, updated in place and removed by a cancel."""
    state = state_of(order("f", "o1", demand=2), order("f", "o2"))
    state = state.apply(order("f", "o1", minute=1, action="update", demand=7))
    assert state.orders["o1"].demand == 7 and state.orders["o1"].action == "update"
    state = state.apply(order("f", "o2", minute=2, action="cancel"))
    assert set(state.orders) == {"o1"} and state.closed_orders == {"o2": T0 + timedelta(minutes=2)}


def test_deliver_closes_an_order() -> None:
    """A delivered order leaves the open set."""
    state = state_of(order("f", "o1"), order("f", "o1", minute=5, action="deliver"))
    assert state.orders == {} and "o1" in state.closed_orders


def test_closed_order_cannot_come_back() -> None:
    """A late update or a re-create after a cancel does not resurrect the order."""
    state = state_of(order("f", "o1"), order("f", "o1", minute=3, action="cancel"))
    assert state.apply(order("f", "o1", minute=2, action="update")).orders == {}
    assert state.apply(order("f", "o1", minute=9, action="update")).orders == {}
    assert state.apply(order("f", "o1", minute=9)).orders == {}


def test_cancel_older_than_the_latest_update_still_closes() -> None:
    """A cancel closes the order even if an update with a later time arrived before it."""
    state = state_of(order("f", "o1", minute=1), order("f", "o1", minute=5, action="update"))
    state = state.apply(order("f", "o1", minute=3, action="cancel"))
    assert state.orders == {} and "o1" in state.closed_orders


def test_cancel_before_create_keeps_the_order_closed() -> None:
    """A cancel that overtakes its create (out of order) still wins."""
    state = state_of(order("f", "o1", minute=3, action="cancel"), order("f", "o1", minute=1))
    assert state.orders == {} and "o1" in state.closed_orders


def test_stale_update_ignored() -> None:
    """An update older than the stored one does not overwrite it."""
    state = state_of(order("f", "o1", minute=5, demand=4))
    state = state.apply(order("f", "o1", minute=1, action="update", demand=9))
    assert state.orders["o1"].demand == 4


def test_closed_orders_are_forgotten_after_the_memory() -> None:
    """Closed ids older than CLOSED_ORDER_MEMORY are dropped when a later order closes."""
    later = CLOSED_ORDER_MEMORY.total_seconds() / 60 + 10
    state = state_of(order("f", "o1", action="cancel"), order("f", "o2", minute=later, action="deliver"))
    assert set(state.closed_orders) == {"o2"}


def test_newer_vehicle_fix_replaces_older() -> None:
    """A newer snapshot of a vehicle replaces the stored one."""
    state = state_of(vehicle("f", "v1", minute=1, load=0), vehicle("f", "v1", minute=5, load=3))
    assert state.vehicles["v1"].load == 3


def test_older_vehicle_fix_ignored() -> None:
    """A position fix that arrives late does not move the vehicle back."""
    state = state_of(vehicle("f", "v1", minute=5, load=3))
    state = state.apply(vehicle("f", "v1", minute=1, load=0))
    assert state.vehicles["v1"].load == 3


def test_traffic_expires() -> None:
    """Traffic stops counting once it is no longer valid, and is dropped when later events arrive."""
    state = state_of(traffic("f", "jam", minutes_valid=10))
    assert len(state.active_traffic(T0 + timedelta(minutes=5))) == 1
    assert state.active_traffic(T0 + timedelta(minutes=10)) == []
    assert state.active_traffic(T0 - timedelta(minutes=1)) == []
    state = state.apply(order("f", "o1", minute=20))
    assert state.traffic == {}


def test_traffic_with_later_start_is_not_yet_active() -> None:
    """A slowdown announced for later is kept but not active before valid_from."""
    data = traffic("f", "roadworks", minutes_valid=60).model_dump()
    data.update(valid_from=T0 + timedelta(minutes=30))
    state = state_of(TrafficEvent.model_validate(data, strict=False))
    assert "roadworks" in state.traffic
    assert state.active_traffic(T0 + timedelta(minutes=10)) == []
    assert [t.event_id for t in state.active_traffic(T0 + timedelta(minutes=45))] == ["roadworks"]


def test_region_traffic_applies_to_any_fleet() -> None:
    """A region-wide event (no fleet_id) is accepted by the fleet's state."""
    data = traffic("f", "storm").model_dump()
    data.update(fleet_id=None, region="north")
    state = state_of(TrafficEvent.model_validate(data, strict=False))
    assert "storm" in state.traffic


def test_summary_counts() -> None:
    """The summary counts open demand and free capacity of vehicles that can take work."""
    state = state_of(
        order("f", "o1", demand=2), order("f", "o2", demand=3), order("f", "o3", demand=9),
        order("f", "o3", minute=1, action="cancel"),
        vehicle("f", "v1", capacity=10, load=4), vehicle("f", "v2", capacity=8, load=1, status="en_route"),
        vehicle("f", "v3", capacity=50, status="offline"), vehicle("f", "v4", capacity=50, status="on_break"),
        traffic("f", "jam", minutes_valid=30), traffic("f", "later", minute=1, minutes_valid=5),
    )
    summary = state.summary(T0 + timedelta(minutes=10))
    assert (summary.open_orders, summary.open_demand, summary.closed_orders) == (2, 5, 1)
    assert (summary.vehicles, summary.vehicles_available, summary.free_capacity) == (4, 2, 13)
    assert summary.active_traffic == 1 and summary.events_applied == 10
    assert summary.last_event_at == T0 + timedelta(minutes=1)
    assert state.summary(T0 + timedelta(minutes=3)).active_traffic == 2


def test_overloaded_vehicle_adds_no_capacity() -> None:
    """A vehicle loaded beyond its capacity counts as zero free capacity, not negative."""
    assert state_of(vehicle("f", "v1", capacity=5, load=8)).summary(T0).free_capacity == 0


def test_redelivered_offset_is_a_no_op() -> None:
    """The same source offset applied twice returns the very same state."""
    state = FleetState(fleet_id="f").apply(order("f", "o1"), at(7))
    assert state.apply(order("f", "o1"), at(7)) is state
    assert state.apply(order("f", "o9"), at(3)) is state
    assert state.events_applied == 1


def test_offsets_are_tracked_per_topic() -> None:
    """Offsets of different topics do not shadow each other."""
    state = FleetState(fleet_id="f").apply(order("f", "o1"), at(7))
    state = state.apply(vehicle("f", "v1"), at(2, topic="vehicles"))
    assert "v1" in state.vehicles and state.applied_offsets == {"orders/0": 7, "vehicles/0": 2}


def test_apply_returns_a_new_state() -> None:
    """apply() never changes the state it is called on."""
    empty = FleetState(fleet_id="f")
    assert empty.apply(order("f", "o1")) is not empty
    assert empty.orders == {} and empty.events_applied == 0


def test_other_fleet_rejected() -> None:
    """An event of another fleet is a programming error, not silently merged."""
    with pytest.raises(ValueError, match="fleet g"):
        FleetState(fleet_id="f").apply(order("g", "o1"))


def test_bytes_round_trip() -> None:
    """State survives the changelog: to_bytes then from_bytes gives an equal state."""
    state = state_of(traffic("f", "jam"), order("f", "o2", minute=1, action="cancel"))
    state = state.apply(order("f", "o1"), at(0)).apply(vehicle("f", "v1"), at(0, "vehicles"))
    again = FleetState.from_bytes(state.to_bytes())
    assert again == state
    assert again.summary(T0) == state.summary(T0)


ACTIONS = st.sampled_from(["create", "update", "cancel", "deliver"])
STEPS = st.lists(st.tuples(ACTIONS, st.integers(0, 5), st.integers(0, 30)), max_size=25)


def events_of(steps: list[tuple[str, int, int]]) -> list[FleetEvent]:
    return [order("f", f"o{n}", minute=minute, action=action) for action, n, minute in steps]


@settings(max_examples=60, deadline=None)
@given(STEPS)
def test_replaying_a_stream_changes_nothing(steps: list[tuple[str, int, int]]) -> None:
    """Replaying every event again with its offset (as after a crash) leaves the state as it was."""
    events = events_of(steps)
    once = FleetState(fleet_id="f")
    for offset, event in enumerate(events):
        once = once.apply(event, at(offset))
    twice = once
    for offset, event in enumerate(events):
        twice = twice.apply(event, at(offset))
    assert twice == once


@settings(max_examples=60, deadline=None)
@given(STEPS, st.data())
def test_restart_from_a_snapshot_converges(steps: list[tuple[str, int, int]], data: st.DataObject) -> None:
    """A state saved mid-stream, restored and fed the whole stream again ends equal to one clean pass."""
    events = events_of(steps)
    cut = data.draw(st.integers(0, len(events)))
    clean = FleetState(fleet_id="f")
    for offset, event in enumerate(events):
        clean = clean.apply(event, at(offset))
    restored = FleetState(fleet_id="f")
    for offset, event in enumerate(events[:cut]):
        restored = restored.apply(event, at(offset))
    restored = FleetState.from_bytes(restored.to_bytes())
    for offset, event in enumerate(events):
        restored = restored.apply(event, at(offset))
    assert restored == clean


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ACTIONS, st.integers(0, 4)), max_size=20), st.randoms(use_true_random=False))
def test_open_and_closed_sets_do_not_depend_on_arrival_order(steps: list[tuple[str, int]], rng: random.Random) -> None:
    """With distinct event times, the open orders and closed ids are the same in any arrival order."""
    events = [order("f", f"o{n}", minute=minute, action=action) for minute, (action, n) in enumerate(steps)]
    shuffled = list(events)
    rng.shuffle(shuffled)
    in_order, out_of_order = state_of(*events), state_of(*shuffled)
    assert in_order.orders == out_of_order.orders
    assert set(in_order.closed_orders) == set(out_of_order.closed_orders)
