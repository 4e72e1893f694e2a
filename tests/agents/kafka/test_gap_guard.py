"""GapGuard: messages the consumer skipped are re-read, not lost; the offsets it reports are what was stored."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from agents.kafka.gap_guard import GapGuard
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


@dataclass
class _Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = None


class _ProgressTable:
    """The parts of a Faust table GapGuard uses, with an app outside any transaction."""

    def __init__(self) -> None:
        self.app = SimpleNamespace(input_progress={}, in_transaction=False)
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def send_changelog(self, partition: int, key: bytes, value: bytes | None, **options: Any) -> None:
        return None


async def test_the_offset_to_commit_is_the_one_after_what_was_handled_and_settled() -> None:
    """A guarded input commits past a message only once it was marked handled and its writes settled; the
    commit does not depend on Faust's acknowledgements (which stalled behind a dropped fetch)."""
    table = _ProgressTable()
    table.data[b"payments/0"] = b"4"  # offsets up to 4 taken by an earlier worker
    guard = GapGuard({"payments"}, table, {})  # type: ignore[arg-type]
    committable = table.app.input_progress["payments"]
    assert committable(0) is None

    taken = await guard.collect(_Message("payments", 0, 5))
    assert [m.offset for m in taken] == [5]
    guard.mark(taken[0])
    assert committable(0) is None  # handled, but its state is not stored yet
    await guard.settle()
    assert committable(0) == 6
    assert table.data[b"payments/0"] == b"5"
    assert await guard.collect(_Message("payments", 0, 4)) == []  # already taken


async def test_a_revoked_partition_is_read_again_from_the_table() -> None:
    """After a revoke the guard forgets what it knew of the partition: another worker's progress in the table
    counts when the partition comes back, and the last settled offset still commits on revoke."""
    table = _ProgressTable()
    table.data[b"payments/1"] = b"9"
    guard = GapGuard({"payments"}, table, {})  # type: ignore[arg-type]
    guard.mark((await guard.collect(_Message("payments", 1, 10)))[0])
    await guard.settle()

    guard.forget({TP("payments", 1)})
    assert table.app.input_progress["payments"](1) == 11
    table.data[b"payments/1"] = b"20"  # another worker took it to 20 meanwhile
    assert await guard.collect(_Message("payments", 1, 15)) == []
    assert [m.offset for m in await guard.collect(_Message("payments", 1, 21))] == [21]


def test_a_guard_needs_the_engine_app() -> None:
    """A plain Faust app would commit by its own acknowledgements: refused with a one-line reason."""
    table = _ProgressTable()
    table.app = SimpleNamespace(in_transaction=False)
    with pytest.raises(TypeError, match="create_app"):
        GapGuard({"payments"}, table, {})  # type: ignore[arg-type]


@pytest.mark.integration
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


@pytest.mark.integration
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
