"""EventClock: cycle instants on event time — every `cycle_seconds` of the events' own clock, not the wall's."""

from __future__ import annotations

import math
from datetime import UTC, datetime


class EventClock:
    """Cycles fall on multiples of cycle_seconds since the epoch; a cycle at t sees the events before t."""

    def __init__(self, cycle_seconds: float) -> None:
        if cycle_seconds <= 0:
            raise ValueError("cycle_seconds must be positive")
        self.cycle_seconds = cycle_seconds
        self.next_cycle: float | None = None  # epoch seconds of the next cycle to fire

    def due(self, event_time: datetime) -> list[datetime]:
        """The cycles that fire before an event at event_time is taken (none before the first event)."""
        now = event_time.timestamp()
        if self.next_cycle is None:
            self.next_cycle = (math.floor(now / self.cycle_seconds) + 1) * self.cycle_seconds
            return []
        fired = []
        while self.next_cycle <= now:
            fired.append(datetime.fromtimestamp(self.next_cycle, UTC))
            self.next_cycle += self.cycle_seconds
        return fired

    def last(self) -> datetime | None:
        """The cycle after the last event, which decides on everything seen (None if no event came)."""
        return None if self.next_cycle is None else datetime.fromtimestamp(self.next_cycle, UTC)
