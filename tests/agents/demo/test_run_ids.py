"""Demo runs never share fleets: fleet ids carry the run id, and a stopped run leaves nothing to plan."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents.demo.simulator import MAX_FLEETS, FleetSimulator, SimulatedEvent, check_run_id, fleet_ids, new_run_id
from engine.routes.problem import build_problem
from engine.routes.state import FleetState
from engine.routes.travel import StraightLineTravel
from schemas import OrderEvent
from tests.factories import T0


def stream(simulator: FleetSimulator, minutes: int) -> list[SimulatedEvent]:
    return [item for second in range(1, minutes * 60)
            for item in simulator.advance(T0 + timedelta(seconds=second))]


def test_fleet_ids_carry_the_run_id() -> None:
    """Fleets are NAME-RUN; two runs share no fleet id and no order id, and every event is keyed by its fleet."""
    runs = {run: FleetSimulator(3, T0, seed=5, run_id=run) for run in ("a1b2c3", "d4e5f6")}
    assert [f.fleet_id for f in runs["a1b2c3"].fleets] == ["north-a1b2c3", "south-a1b2c3", "east-a1b2c3"]
    seen: dict[str, tuple[set[str], set[str]]] = {}
    for run, simulator in runs.items():
        items = stream(simulator, 5)
        assert all(item.key == item.event.fleet_id for item in items)
        orders = {item.event.order_id for item in items if isinstance(item.event, OrderEvent)}
        seen[run] = ({item.key for item in items}, orders)
        assert orders and all(o.startswith(tuple(f"{f.fleet_id}-" for f in simulator.fleets)) for o in orders)
    (fleets_a, orders_a), (fleets_b, orders_b) = seen.values()
    assert not fleets_a & fleets_b and not orders_a & orders_b


def test_fleet_count_and_run_id_are_checked() -> None:
    """1 to MAX_FLEETS fleets; run ids are short and safe in Redis keys; a fresh one is valid and new each time."""
    assert len(fleet_ids(MAX_FLEETS, "r")) == len(set(fleet_ids(MAX_FLEETS, "r"))) == MAX_FLEETS
    for bad in (0, MAX_FLEETS + 1):
        with pytest.raises(ValueError, match="fleets must be"):
            fleet_ids(bad, "r")
    for bad_id in ("", "a:b", "a b", "-a", "a*", "x" * 33):
        with pytest.raises(ValueError, match="is not a run id"):
            check_run_id(bad_id)
    fresh = {new_run_id() for _ in range(20)}
    assert len(fresh) == 20 and all(check_run_id(run) == run for run in fresh)


def test_wind_down_leaves_no_open_orders_and_no_vans_to_plan() -> None:
    """After a run's wind-down events, its fleets hold no open orders and the route problem has no vehicles."""
    simulator = FleetSimulator(2, T0, seed=2, run_id="r9")
    states = {f.fleet_id: FleetState(f.fleet_id) for f in simulator.fleets}
    for item in stream(simulator, 10):
        states[item.key].apply(item.event)
    assert all(state.orders for state in states.values())
    end = T0 + timedelta(minutes=10)
    closing = simulator.wind_down(end)
    for item in closing:
        states[item.key].apply(item.event)
    for state in states.values():
        assert state.orders == {}
        problem = build_problem(state, end, StraightLineTravel(speed_kmh=30))
        assert problem.vehicles == () and problem.stops == ()
    again = simulator.wind_down(end + timedelta(seconds=1))
    assert {item.topic for item in closing} == {"orders", "vehicles"}
    assert {item.topic for item in again} == {"vehicles"}, "a second wind-down has no orders left to cancel"
