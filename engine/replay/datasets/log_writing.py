"""Writing a data set's records as an event log: time order, exact millisecond stamps, a source digest."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.replay.event_log import EventLogWriter, LogRecord
from schemas import WireModel

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COORD_DECIMALS = 6  # ~0.1 m; keeps the bytes stable against last-bit float noise

@dataclass(frozen=True)
class PendingRecord:
    """A record before offsets are known: sorted by time, ties kept in creation order."""

    timestamp_ms: int
    topic: str
    key: str
    model: WireModel


def epoch_ms(moment: datetime) -> int:
    # Exact integer arithmetic: float timestamps can be off by one millisecond.
    return (moment - EPOCH) // timedelta(milliseconds=1)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_log(out: Path, header: dict[str, Any], pending: list[PendingRecord], topics: Sequence[str]) -> dict[str, Any]:
    """Sort by event time (stable), number offsets per topic, write; returns the header written."""
    ordered = sorted(pending, key=lambda p: p.timestamp_ms)  # sorted() is stable: ties keep creation order
    per_topic = Counter(p.topic for p in ordered)
    full = {
        **header,
        "topics": list(topics),
        "records": {topic: per_topic.get(topic, 0) for topic in topics},
        "since": datetime.fromtimestamp(ordered[0].timestamp_ms / 1000, UTC).isoformat() if ordered else None,
        "until": datetime.fromtimestamp(ordered[-1].timestamp_ms / 1000, UTC).isoformat() if ordered else None,
    }
    offsets: dict[str, int] = defaultdict(int)
    with EventLogWriter(out, header=full) as writer:
        for p in ordered:
            writer.append(LogRecord(p.topic, 0, offsets[p.topic], p.timestamp_ms, p.key.encode(),
                                    p.model.to_bytes(), ()))
            offsets[p.topic] += 1
    return full


# ------------------------------------------------------------------------------------------ zone layout
