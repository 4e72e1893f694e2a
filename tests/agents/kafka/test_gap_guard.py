"""Integration test of GapGuard: messages the consumer skipped are re-read, not lost."""

from __future__ import annotations

import pytest

from tests.factories import order
from tests.support import (
    IsolatedEngine,
    WorkerProcess,
    commit_offset,
    committed_offsets,
    consume_all,
    produce,
    redis_client,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_skipped_offsets_are_replayed(engine: IsolatedEngine, worker: WorkerProcess) -> None:
    """Messages behind a committed offset that jumped (as Faust does after some restarts) are replayed."""
    topics = engine.settings.topics
    key = f"{engine.settings.redis_prefix}:fleet:fleet-g:summary"
    worker.start()
    produce(topics.orders, [(b"fleet-g", order("fleet-g", f"o-{i}", minute=i).to_bytes()) for i in range(5)])
    wait_for(lambda: redis_client().hget(key, "events_applied") == "5", 30, "first five events")
    worker.stop()

    produce(topics.orders, [(b"fleet-g", order("fleet-g", f"o-{i}", minute=i).to_bytes()) for i in range(5, 20)])
    partition = consume_all(topics.orders)[0].partition
    assert committed_offsets(engine.settings.app_id, topics.orders)[partition] == 5
    commit_offset(engine.settings.app_id, topics.orders, partition, 12)  # simulate offsets 5..11 being skipped

    worker.start()
    wait_for(lambda: redis_client().hget(key, "events_applied") == "20", 60, "all twenty events")
    assert redis_client().hget(key, "open_orders") == "20"
    assert "input gap on" in worker.log_tail(400)


def test_a_partition_never_taken_is_read_from_its_log_start(engine: IsolatedEngine, worker: WorkerProcess) -> None:
    """A committed offset past the start of a partition with no progress recorded (Faust acks the events it
    skips in a rebalance, and commits them) does not hide the messages before it: they are replayed."""
    topics = engine.settings.topics
    key = f"{engine.settings.redis_prefix}:fleet:fleet-n:summary"
    produce(topics.orders, [(b"fleet-n", order("fleet-n", f"o-{i}", minute=i).to_bytes()) for i in range(10)])
    partition = consume_all(topics.orders)[0].partition
    commit_offset(engine.settings.app_id, topics.orders, partition, 6)  # as if 0..5 had been taken elsewhere

    worker.start()
    wait_for(lambda: redis_client().hget(key, "events_applied") == "10", 60, "all ten events")
    assert redis_client().hget(key, "open_orders") == "10"
    assert "has no progress recorded but starts at offset 6" in worker.log_tail(400)
