"""Record topics into an event log and replay it into Kafka (real broker, no mocks)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.replay.recorder import RecordRequest, record
from agents.replay.replayer import ReplayRequest, replay, time_ordered
from engine.replay.event_log import EventLogReader
from engine.settings import load_settings
from tests.support import BOOTSTRAP, ConsumedRecord, consume_all

pytestmark = pytest.mark.integration

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def new_topics(*names: str) -> list[str]:
    run = uuid.uuid4().hex[:8]
    topics = [f"{name}-{run}" for name in names]

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, 4, 1) for t in topics])
        finally:
            await admin.close()

    asyncio.run(create())
    return topics


def send(topic: str, count: int, start_ms: int = T0, step_ms: int = 10) -> None:
    """count messages over 5 keys with headers, a tombstone and explicit timestamps."""

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for i in range(count):
                value = None if i == 7 else f"value-{i}".encode()
                await producer.send(topic, value, key=f"key-{i % 5}".encode(), timestamp_ms=start_ms + i * step_ms,
                                    headers=[("seq", str(i).encode()), ("source", b"test")])
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(run())


def by_key(records: list[ConsumedRecord]) -> dict[bytes | None, list[tuple[bytes | None, dict[str, bytes]]]]:
    """Each key's values and headers in offset order (the order Kafka promises per key)."""
    grouped: dict[bytes | None, list[tuple[bytes | None, dict[str, bytes]]]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        grouped[r.key].append((r.value, r.headers))
    return dict(grouped)


def test_record_then_replay_reproduces_every_message(tmp_path: Path, services: None) -> None:
    """Key, value (a tombstone too), headers and per-key order survive record -> replay into a renamed topic."""
    source, target = new_topics("rec-src", "rec-dst")
    send(source, 300)
    log = tmp_path / "run.log.zst"
    settings = load_settings()
    assert asyncio.run(record(settings, RecordRequest(topics=[source], out=log), show_progress=False)) == 300
    result = asyncio.run(replay(settings, ReplayRequest(log=log, speed=None, rename={source: target}),
                                show_progress=False))
    assert result.sent == 300
    original, replayed = consume_all(source, expect=300), consume_all(target, expect=300)
    assert len(replayed) == 300 and by_key(replayed) == by_key(original)
    assert sorted(r.timestamp_ms for r in replayed) == sorted(r.timestamp_ms for r in original)


def test_replay_resumes_where_it_stopped(tmp_path: Path, services: None) -> None:
    """A replay stopped half way and started again with its progress file sends each record exactly once."""
    source, target = new_topics("res-src", "res-dst")
    send(source, 2500)
    log, progress = tmp_path / "run.log.zst", tmp_path / "replay.progress.json"
    settings = load_settings()
    asyncio.run(record(settings, RecordRequest(topics=[source], out=log), show_progress=False))
    request = ReplayRequest(log=log, speed=None, rename={source: target}, progress_file=progress, stop_after=1200)
    first = asyncio.run(replay(settings, request, show_progress=False))
    request.stop_after = None
    second = asyncio.run(replay(settings, request, show_progress=False))
    assert (first.sent, second.skipped, second.sent) == (1200, 1200, 1300)
    assert by_key(consume_all(target, expect=2500)) == by_key(consume_all(source, expect=2500))


def test_record_by_time_range(tmp_path: Path, services: None) -> None:
    """--since/--until keep exactly the records whose timestamps fall in the range."""
    (source,) = new_topics("range-src")
    send(source, 100, step_ms=1000)  # one per second from T0
    log = tmp_path / "range.log.zst"
    since = datetime.fromtimestamp((T0 + 20_000) / 1000, UTC)
    until = datetime.fromtimestamp((T0 + 49_000) / 1000, UTC)
    asyncio.run(record(load_settings(), RecordRequest(topics=[source], out=log, since=since, until=until),
                       show_progress=False))
    stamps = sorted(r.timestamp_ms for r in EventLogReader(log))
    assert stamps == [T0 + s * 1000 for s in range(20, 50)]


def test_paced_replay_keeps_spacing_and_shifts_to_now(tmp_path: Path, services: None) -> None:
    """At speed 4, records 2 s apart in the log arrive about 0.5 s apart, stamped from now."""
    source, target = new_topics("pace-src", "pace-dst")
    send(source, 5, step_ms=500)  # spans 2 s
    log = tmp_path / "pace.log.zst"
    settings = load_settings()
    asyncio.run(record(settings, RecordRequest(topics=[source], out=log), show_progress=False))
    before = time.time() * 1000
    result = asyncio.run(replay(settings, ReplayRequest(log=log, speed=4.0, rename={source: target},
                                                        shift_to_now=True), show_progress=False))
    assert result.seconds >= 0.45  # a lower bound only: the pacing waited
    stamps = sorted(r.timestamp_ms for r in consume_all(target, expect=5))
    assert before - 1000 <= stamps[0] <= before + 1000
    assert [b - a for a, b in itertools.pairwise(stamps)] == [125] * 4


def test_time_ordered_merge_keeps_each_partition_in_order() -> None:
    """Partitions interleaved batch by batch come out by timestamp, each partition's order untouched."""
    from engine.replay.event_log import LogRecord

    def rec(partition: int, offset: int, ts: int) -> LogRecord:
        return LogRecord("t", partition, offset, ts, None, None)

    log = [rec(0, 0, 10), rec(0, 1, 30), rec(0, 2, 25), rec(1, 0, 5), rec(1, 1, 20), rec(2, 0, 40)]
    merged = list(time_ordered(log, lookahead=100))
    assert [(r.partition, r.offset) for r in merged] == [(1, 0), (0, 0), (1, 1), (0, 1), (0, 2), (2, 0)]
    assert list(time_ordered(log, lookahead=0)) == log  # no lookahead: log order
