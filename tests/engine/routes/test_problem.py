"""Tests of build_problem: live fleet state to the problem a cycle solves."""

from __future__ import annotations

from datetime import timedelta

from engine.routes.problem import build_problem
from engine.routes.state import FleetState
from tests.factories import T0, order, traffic, vehicle


def state_with(*events: object) -> FleetState:
    state = FleetState(fleet_id="f")
    for event in events:
        state.apply(event)  # type: ignore[arg-type]
    return state


def test_open_orders_and_usable_vehicles() -> None:
    """Cancelled orders and offline vehicles are left out; windows are seconds from the cycle time."""
    state = state_with(order("f", "o1"), order("f", "o2"), order("f", "o2", minute=1, action="cancel"),
                       vehicle("f", "v1", capacity=10, load=3), vehicle("f", "v2", status="offline"))
    problem = build_problem(state, T0 + timedelta(minutes=30))
    assert [s.order_id for s in problem.stops] == ["o1"]
    assert [(v.vehicle_id, v.capacity) for v in problem.vehicles] == [("v1", 7)]
    assert problem.stops[0].window_start == 0 and problem.stops[0].window_end == 90 * 60


def test_traffic_in_force_changes_travel_times_and_digest() -> None:
    """A slowdown valid at the cycle time makes legs slower and changes the inputs digest."""
    base = state_with(order("f", "o1"), vehicle("f", "v1"))
    jammed = state_with(order("f", "o1"), vehicle("f", "v1"), traffic("f", "jam", speed_factor=0.25))
    at = T0 + timedelta(minutes=1)
    calm, slow = build_problem(base, at), build_problem(jammed, at)
    assert slow.seconds[0][1] > 3 * calm.seconds[0][1]
    assert slow.digest() != calm.digest()
    assert calm.digest() == build_problem(base, at).digest()


def test_committed_stops_carried() -> None:
    """A vehicle's stop in progress and committed stops become its committed sequence."""
    v = vehicle("f", "v1").model_copy(update={"current_stop": "o2", "committed_stops": ["o1"]})
    problem = build_problem(state_with(order("f", "o1"), order("f", "o2"), v), T0)
    assert problem.vehicles[0].committed == ("o2", "o1")
