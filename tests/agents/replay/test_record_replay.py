"""Record topics into an event log and replay it into Kafka (real broker, no mocks)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.cli.main import main
from agents.replay.recorder import RecordRequest, record
from agents.replay.replayer import ReplayRefusedError, ReplayRequest, broker_limits, replay, time_ordered
from engine.replay.event_log import EventLogReader, EventLogWriter, LogRecord
from engine.settings import load_settings
from tests.support import BOOTSTRAP, ConsumedRecord, consume_all

pytestmark = pytest.mark.integration

# Midnight UTC three days ago, in ms: inside the broker's 7-day retention. Records stamped 2026-01-01 were deleted
# at its next retention check (every 5 min), and a recording made just after one found nothing (a CI failure).
T0 = (int(time.time()) // 86_400 - 3) * 86_400_000


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


def create_topic(partitions: int, **configs: str) -> str:
    """A fresh topic with the given topic configs (dots for underscores in the names)."""
    name = f"cfg-{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1, topic_configs={
                key.replace("_", "."): value for key, value in configs.items()})])
        finally:
            await admin.close()

    asyncio.run(create())
    return name


def write_log(path: Path, topic: str, stamps: list[tuple[int, int]]) -> Path:
    """A log of one topic: (partition, timestamp ms) per record, offsets counted per partition."""
    offsets: dict[int, int] = defaultdict(int)
    with EventLogWriter(path, {"topics": [topic]}) as writer:
        for partition, ts in stamps:
            writer.append(LogRecord(topic, partition, offsets[partition], ts, f"k{partition}".encode(),
                                    f"v{offsets[partition]}".encode()))
            offsets[partition] += 1
    return path


def test_recorder_writes_topics_merged_by_time(tmp_path: Path, services: None) -> None:
    """Three topics produced one after the other, their timestamps interleaved: `record` writes the log merged by
    time (not topic by topic), so reading it merged changes nothing."""
    topics = new_topics("merge-a", "merge-b", "merge-c")
    for number, topic in enumerate(topics):
        send(topic, 60, start_ms=T0 + number, step_ms=30)  # a: 0, 30, ...; b: 1, 31, ...; c: 2, 32, ...
    log = tmp_path / "merged.log.zst"
    assert asyncio.run(record(load_settings(), RecordRequest(topics=topics, out=log), show_progress=False)) == 180
    in_file = list(EventLogReader(log))
    assert [r.timestamp_ms for r in in_file] == sorted(r.timestamp_ms for r in in_file)
    assert list(time_ordered(in_file, lookahead=5)) == in_file


def test_refused_records_stop_the_replay_and_only_acknowledged_ones_count(
    tmp_path: Path, services: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records stamped two days ahead (past the broker's future limit) are refused: the replay stops with the first
    refusal, counts only the 30 acknowledged records (all on the topic), and its progress file resumes at the first
    refused one; `engine replay` exits 1 with that count and one error line."""
    now = int(time.time() * 1000)
    source = "refuse-src"
    log = write_log(tmp_path / "future.log.zst", source,
                    [(0, now - 60_000 + i) for i in range(30)] + [(1, now + 2 * 86_400_000 + i) for i in range(20)])
    target = create_topic(2)
    progress = tmp_path / "replay.progress.json"
    request = ReplayRequest(log=log, speed=None, rename={source: target}, keep_partitions=True,
                            progress_file=progress)
    with pytest.raises(ReplayRefusedError) as caught:
        asyncio.run(replay(load_settings(), request, show_progress=False))
    refused = caught.value
    assert refused.result.sent == 30 and refused.result.refused >= 1 and refused.position == 31
    assert "InvalidTimestampError" in str(refused) and "30 record(s) acknowledged" in str(refused)
    assert len(consume_all(target, expect=30)) == 30
    assert json.loads(progress.read_text())["sent"] == 30

    again = create_topic(2)
    code = main(["replay", str(log), "--fast", "--keep-partitions", "--rename", f"{source}={again}"])
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out.strip().splitlines()[-1])["sent"] == 30
    assert err.count("\n") == 1 and err.startswith("error: the broker refused record #31 of")


def test_fast_shift_to_now_never_stamps_past_the_brokers_limit(tmp_path: Path, services: None) -> None:
    """A two-day log replayed --fast --shift-to-now into a topic accepting stamps at most 10 min ahead (read from
    the topic's config): every record is accepted, the spacing is kept, none lies more than 10 min ahead."""
    source = "span-src"
    hour = 3_600_000
    log = write_log(tmp_path / "two-days.log.zst", source, [(0, T0 + i * hour) for i in range(49)])
    target = create_topic(1, message_timestamp_after_max_ms=str(600_000))
    limits = asyncio.run(broker_limits(load_settings(), [target]))
    assert limits.future_ms == 600_000 and target in limits.source
    assert asyncio.run(broker_limits(load_settings(), ["not-created-yet"])).future_ms == 3_600_000  # the broker's
    before = time.time() * 1000
    result = asyncio.run(replay(load_settings(), ReplayRequest(log=log, speed=None, rename={source: target},
                                                               shift_to_now=True), show_progress=False))
    assert result.sent == 49 and result.future_limit == limits
    stamps = sorted(r.timestamp_ms for r in consume_all(target, expect=49))
    assert [b - a for a, b in itertools.pairwise(stamps)] == [hour] * 48
    assert stamps[-1] <= before + 600_000 and stamps[-1] >= before + 600_000 - 60_000 - 5_000
    assert result.shifted_back_s == pytest.approx((48 * hour - 540_000) / 1000, abs=1)
