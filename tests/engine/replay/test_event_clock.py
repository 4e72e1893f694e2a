"""EventClock: cycles on the events' own time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.replay.event_clock import EventClock

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_cycles_fire_every_period_of_event_time_whatever_the_gaps() -> None:
    """The first event starts the clock; later events fire every boundary they pass, gaps included."""
    clock = EventClock(15)
    assert clock.due(T0 + timedelta(seconds=3)) == []
    assert clock.due(T0 + timedelta(seconds=14)) == []
    assert clock.due(T0 + timedelta(seconds=15)) == [T0 + timedelta(seconds=15)]  # on the boundary: fires first
    assert clock.due(T0 + timedelta(seconds=61)) == [T0 + timedelta(seconds=s) for s in (30, 45, 60)]
    assert clock.last() == T0 + timedelta(seconds=75)


def test_clock_without_events_has_no_last_cycle() -> None:
    """No event, no cycle; a non-positive period is refused."""
    assert EventClock(15).last() is None
    with pytest.raises(ValueError):
        EventClock(0)
