"""Tests of FleetSimulator, the demo's synthetic stream."""

from __future__ import annotations

from datetime import timedelta

from agents.demo.simulator import FleetSimulator
from engine.routes.state import FleetState
from schemas import OrderEvent, VehicleEvent
from tests.factories import T0


def run(seed: int, minutes: int = 10) -> list[bytes]:
    simulator = FleetSimulator(2, T0, seed=seed)
    out: list[bytes] = []
    for second in range(1, minutes * 60):
        out += [item.event.to_bytes() for item in simulator.advance(T0 + timedelta(seconds=second))]
    return out


def test_same_seed_same_stream() -> None:
    """The stream is a pure function of seed and clock."""
    assert run(3) == run(3)
    assert run(3) != run(4)


def test_stream_is_plausible() -> None:
    """Vehicles report, orders arrive and close, and every event is keyed by its own fleet."""
    simulator = FleetSimulator(2, T0, seed=1)
    states = {f.fleet_id: FleetState(fleet_id=f.fleet_id) for f in simulator.fleets}
    kinds: set[str] = set()
    for second in range(1, 15 * 60):
        for item in simulator.advance(T0 + timedelta(seconds=second)):
            assert item.key == item.event.fleet_id
            states[item.key].apply(item.event)
            kinds.add(item.event.action if isinstance(item.event, OrderEvent) else item.topic)
    assert {"create", "cancel", "deliver", "vehicles", "traffic"} <= kinds
    for state in states.values():
        assert len(state.vehicles) == 4 and state.orders
        assert all(isinstance(v, VehicleEvent) for v in state.vehicles.values())
