"""Tests of FleetState: the pure, idempotent reducer of fleet events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.state import FleetState, SourcePosition
from tests.factories import T0, order, traffic, vehicle


def at(offset: int, topic: str = "orders") -> SourcePosition:
    return SourcePosition(topic=topic, partition=0, offset=offset)


def test_create_update_cancel() -> None:
    """Orders are created, updated in place and removed by a cancel."""
    state = FleetState(fleet_id="f").apply(order("f", "o1", demand=2)).apply(order("f", "o2"))
    state = state.apply(order("f", "o1", minute=1, action="update", demand=7))
    assert state.orders["o1"].demand == 7
    state = state.apply(order("f", "o2", minute=2, action="cancel"))
    assert set(state.orders) == {"o1"} and set(state.closed_orders) == {"o2"}


def test_deliver_closes_an_order() -> None:
    """A delivered order leaves the open set."""
    state = FleetState(fleet_id="f").apply(order("f", "o1")).apply(order("f", "o1", minute=5, action="deliver"))
    assert state.orders == {} and "o1" in state.closed_orders


def test_closed_order_cannot_come_back() -> None:
    """A late update after a cancel does not resurrect the order."""
    state = FleetState(fleet_id="f").apply(order("f", "o1")).apply(order("f", "o1", minute=3, action="cancel"))
    state = state.apply(order("f", "o1", minute=2, action="update"))
    assert "o1" not in state.orders


def test_stale_update_ignored() -> None:
    """An update older than the stored one does not overwrite it."""
    state = FleetState(fleet_id="f").apply(order("f", "o1", minute=5, demand=4))
    state = state.apply(order("f", "o1", minute=1, action="update", demand=9))
    assert state.orders["o1"].demand == 4


def test_older_vehicle_fix_ignored() -> None:
    """A position fix that arrives late does not move the vehicle back."""
    state = FleetState(fleet_id="f").apply(vehicle("f", "v1", minute=5, load=3))
    state = state.apply(vehicle("f", "v1", minute=1, load=0))
    assert state.vehicles["v1"].load == 3


def test_traffic_expires() -> None:
    """Traffic stops counting once it is no longer valid, and is dropped when later events arrive."""
    state = FleetState(fleet_id="f").apply(traffic("f", "jam", minutes_valid=10))
    assert len(state.active_traffic(T0 + timedelta(minutes=5))) == 1
    assert state.active_traffic(T0 + timedelta(minutes=11)) == []
    state = state.apply(order("f", "o1", minute=20))
    assert state.traffic == {}


def test_summary_counts() -> None:
    """The summary counts open demand and free capacity of vehicles that can take work."""
    state = FleetState(fleet_id="f")
    for event in (order("f", "o1", demand=2), order("f", "o2", demand=3), vehicle("f", "v1", capacity=10, load=4),
                  vehicle("f", "v2", capacity=50, status="offline"), traffic("f", "jam")):
        state = state.apply(event)
    summary = state.summary(T0 + timedelta(minutes=1))
    assert (summary.open_orders, summary.open_demand) == (2, 5)
    assert (summary.vehicles, summary.vehicles_available, summary.free_capacity) == (2, 1, 6)
    assert summary.active_traffic == 1 and summary.events_applied == 5


def test_redelivered_offset_is_a_no_op() -> None:
    """The same source offset applied twice returns the very same state."""
    state = FleetState(fleet_id="f").apply(order("f", "o1"), at(7))
    assert state.apply(order("f", "o1"), at(7)) is state
    assert state.apply(order("f", "o9"), at(3)) is state


def test_offsets_are_tracked_per_topic() -> None:
    """Offsets of different topics do not shadow each other."""
    state = FleetState(fleet_id="f").apply(order("f", "o1"), at(7))
    state = state.apply(vehicle("f", "v1"), at(2, topic="vehicles"))
    assert "v1" in state.vehicles and state.applied_offsets == {"orders/0": 7, "vehicles/0": 2}


def test_other_fleet_rejected() -> None:
    """An event of another fleet is a programming error, not silently merged."""
    with pytest.raises(ValueError, match="fleet g"):
        FleetState(fleet_id="f").apply(order("g", "o1"))


def test_bytes_round_trip() -> None:
    """State survives the changelog: to_bytes then from_bytes gives an equal state."""
    state = FleetState(fleet_id="f").apply(order("f", "o1"), at(0)).apply(vehicle("f", "v1"), at(0, "vehicles"))
    assert FleetState.from_bytes(state.to_bytes()) == state


actions = st.lists(
    st.tuples(st.sampled_from(["create", "update", "cancel", "deliver"]), st.integers(0, 5), st.integers(0, 30)),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(actions)
def test_replaying_a_stream_changes_nothing(steps: list[tuple[str, int, int]]) -> None:
    """Replaying every event again with its offset (as after a crash) leaves the state as it was."""
    events = [order("f", f"o{n}", minute=minute, action=action) for action, n, minute in steps]
    once = FleetState(fleet_id="f")
    for offset, event in enumerate(events):
        once = once.apply(event, at(offset))
    twice = once
    for offset, event in enumerate(events):
        twice = twice.apply(event, at(offset))
    assert twice == once
