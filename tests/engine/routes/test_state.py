"""Tests of FleetState: the idempotent, O(change) reducer of fleet events and its per-entity records."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.routes.state import CLOSED_ORDER_MEMORY, FleetEvent, FleetState, SourcePosition, read_fleet_event
from schemas import DecodeError, TrafficEvent
from tests.factories import T0, order, traffic, vehicle


def at(offset: int, topic: str = "orders") -> SourcePosition:
    return SourcePosition(topic=topic, partition=0, offset=offset)


def state_of(*events: FleetEvent) -> FleetState:
    state = FleetState(fleet_id="f")
    for event in events:
        state.apply(event)
    return state


def test_create_update_cancel() -> None:
    """Orders are created, updated in place and removed by a cancel."""
    state = state_of(order("f", "o1", demand=2), order("f", "o2"))
    state.apply(order("f", "o1", minute=1, action="update", demand=7))
    assert state.orders["o1"].demand == 7 and state.orders["o1"].action == "update"
    state.apply(order("f", "o2", minute=2, action="cancel"))
    assert set(state.orders) == {"o1"} and state.closed_orders == {"o2": T0 + timedelta(minutes=2)}


def test_deliver_closes_an_order() -> None:
    """A delivered order leaves the open set."""
    state = state_of(order("f", "o1"), order("f", "o1", minute=5, action="deliver"))
    assert state.orders == {} and "o1" in state.closed_orders


def test_closed_order_cannot_come_back() -> None:
    """A late update or a re-create after a cancel does not resurrect the order."""
    state = state_of(order("f", "o1"), order("f", "o1", minute=3, action="cancel"))
    for late in (order("f", "o1", minute=2, action="update"), order("f", "o1", minute=9, action="update"),
                 order("f", "o1", minute=9)):
        state.apply(late)
        assert state.orders == {}


def test_cancel_older_than_the_latest_update_still_closes() -> None:
    """A cancel closes the order even if an update with a later time arrived before it."""
    state = state_of(order("f", "o1", minute=1), order("f", "o1", minute=5, action="update"))
    state.apply(order("f", "o1", minute=3, action="cancel"))
    assert state.orders == {} and "o1" in state.closed_orders


def test_cancel_before_create_keeps_the_order_closed() -> None:
    """A cancel that overtakes its create (out of order) still wins."""
    state = state_of(order("f", "o1", minute=3, action="cancel"), order("f", "o1", minute=1))
    assert state.orders == {} and "o1" in state.closed_orders


def test_stale_update_ignored() -> None:
    """An update older than the stored one does not overwrite it."""
    state = state_of(order("f", "o1", minute=5, demand=4))
    state.apply(order("f", "o1", minute=1, action="update", demand=9))
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
    state.apply(vehicle("f", "v1", minute=1, load=0))
    assert state.vehicles["v1"].load == 3


def test_traffic_expires() -> None:
    """Traffic stops counting once it is no longer valid, and is dropped when later events arrive."""
    state = state_of(traffic("f", "jam", minutes_valid=10))
    assert len(state.active_traffic(T0 + timedelta(minutes=5))) == 1
    assert state.active_traffic(T0 + timedelta(minutes=10)) == []
    assert state.active_traffic(T0 - timedelta(minutes=1)) == []
    state.apply(order("f", "o1", minute=20))
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
    """The same (or an older) source offset applied again is refused and changes nothing."""
    state = FleetState(fleet_id="f")
    assert state.apply(order("f", "o1"), at(7))
    state.take_changes()
    assert not state.apply(order("f", "o1", demand=9), at(7))
    assert not state.apply(order("f", "o9"), at(3))
    assert state.events_applied == 1 and set(state.orders) == {"o1"} and state.orders["o1"].demand != 9
    assert state.take_changes() == {}


def test_the_meta_record_is_written_after_the_entities_of_its_batch() -> None:
    """The meta record (applied offsets) comes last among a batch's changes, so a crash part way through the writes
    loses it too and the batch is applied again; first, it marked an order applied whose record was lost (CI)."""
    for seed in range(20):
        state = FleetState(fleet_id="f")
        for n in range(seed + 3):
            state.apply(order("f", f"o{n}"), at(n))
        state.apply(vehicle("f", "v1"), at(0, "vehicles"))
        state.apply(order("f", "o0", minute=2, action="cancel"), at(seed + 3))
        keys = list(state.take_changes())
        assert keys[-1] == "m\x1f" and keys.count("m\x1f") == 1


def test_offsets_are_tracked_per_topic() -> None:
    """Offsets of different topics do not shadow each other."""
    state = FleetState(fleet_id="f")
    state.apply(order("f", "o1"), at(7))
    state.apply(vehicle("f", "v1"), at(2, topic="vehicles"))
    assert "v1" in state.vehicles and state.applied_offsets == {"orders/0": 7, "vehicles/0": 2}


def test_each_event_changes_only_its_entity_and_the_meta_record() -> None:
    """apply() marks the one entity it touched (plus the small meta record), however large the fleet."""
    state = FleetState(fleet_id="f")
    for n in range(3000):
        state.apply(order("f", f"o{n}"), at(n))
    state.apply(vehicle("f", "v1"), at(0, "vehicles"))
    state.take_changes()
    state.apply(order("f", "o5", minute=1, action="update", demand=4), at(3000))
    changes = state.take_changes()
    assert set(changes) == {"o\x1fo5", "m\x1f"}
    assert max(len(v or b"") for v in changes.values()) < 4096
    state.apply(order("f", "o6", minute=2, action="cancel"), at(3001))
    assert set(state.take_changes()) == {"o\x1fo6", "c\x1fo6", "m\x1f"}


def test_other_fleet_rejected() -> None:
    """An event of another fleet is a programming error, not silently merged."""
    with pytest.raises(ValueError, match="fleet g"):
        FleetState(fleet_id="f").apply(order("g", "o1"))


def restored(state: FleetState) -> FleetState:
    """The state rebuilt from its records, as a restarted worker does from the changelog."""
    return FleetState.from_records(state.fleet_id, [(k, v) for k, v in state.records().items() if v is not None])


def test_records_round_trip() -> None:
    """State survives the changelog: its records rebuild an equal state with the same summary."""
    state = state_of(traffic("f", "jam"), order("f", "o2", minute=1, action="cancel"))
    state.apply(order("f", "o1"), at(0))
    state.apply(vehicle("f", "v1"), at(0, "vehicles"))
    again = restored(state)
    assert again == state
    assert again.summary(T0) == state.summary(T0)


def test_changes_replayed_onto_records_equal_the_state() -> None:
    """Writing only take_changes() after each event (deletes included) leaves the records of the whole state."""
    state, table = FleetState(fleet_id="f"), {}
    events = [order("f", "o1"), traffic("f", "jam", minutes_valid=10), order("f", "o2", minute=1),
              order("f", "o1", minute=2, action="deliver"), vehicle("f", "v1", minute=3),
              order("f", "o3", minute=25), order("f", "o2", minute=26, action="update", demand=5)]
    for offset, event in enumerate(events):
        state.apply(event, at(offset))
        for key, value in state.take_changes().items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
    assert table == {k: v for k, v in state.records().items() if v is not None}
    assert "t\x1fjam" not in table  # expired traffic was deleted from the changelog too


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
        once.apply(event, at(offset))
    twice = restored(once)
    for offset, event in enumerate(events):
        assert not twice.apply(event, at(offset))
    assert twice == once


@settings(max_examples=60, deadline=None)
@given(STEPS, st.data())
def test_restart_from_a_snapshot_converges(steps: list[tuple[str, int, int]], data: st.DataObject) -> None:
    """A state saved mid-stream, restored and fed the whole stream again ends equal to one clean pass."""
    events = events_of(steps)
    cut = data.draw(st.integers(0, len(events)))
    clean = FleetState(fleet_id="f")
    for offset, event in enumerate(events):
        clean.apply(event, at(offset))
    partial = FleetState(fleet_id="f")
    for offset, event in enumerate(events[:cut]):
        partial.apply(event, at(offset))
    again = restored(partial)
    for offset, event in enumerate(events):
        again.apply(event, at(offset))
    assert again == clean


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


@pytest.mark.parametrize("event", [order("f", "o1", minute=60 * 24 * 365 * 100, action="cancel"),
                                   vehicle("f", "v1", minute=60 * 24 * 365 * 100),
                                   traffic("f", "jam", minute=60 * 24 * 365 * 100)])
def test_events_dated_far_ahead_are_refused(event: FleetEvent) -> None:
    """A cancel, position fix or jam dated a century ahead is a DecodeError (dead-lettered), so it can never
    wipe the closed-order memory, freeze a vehicle or expire the traffic; one within the limit is accepted."""
    schema = type(event)
    with pytest.raises(DecodeError, match=r"more than 300 s after the time received"):
        read_fleet_event(schema, event.to_bytes(), b"f", T0, max_future_s=300)
    near = event.model_copy(update={"occurred_at": T0 + timedelta(seconds=299)})
    assert read_fleet_event(schema, near.to_bytes(), b"f", T0, max_future_s=300)[1] == "f"
