"""Recorder: copy Kafka topics into an EventLog (by time range or start offsets), with a progress bar."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.kafka.topics import kafka_client_options, topic_partitions
from engine.replay.event_log import EventLogWriter, LogRecord
from engine.settings import Settings

FLUSH_EVERY_S = 1.0  # a killed recording loses at most about this much


@dataclass
class RecordRequest:
    """What to record: topics, and where to start and stop in each."""

    topics: list[str]
    out: Path
    since: datetime | None = None  # first record at or after this time (else from the beginning)
    until: datetime | None = None  # stop at records after this time (else at the end offsets seen at start)
    start_offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # overrides `since` per partition
    follow: bool = False  # keep recording new records until stopped


async def record(settings: Settings, request: RecordRequest, show_progress: bool = True) -> int:
    """Write the selected records to request.out; returns how many. Cancelling closes the log cleanly."""
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **kafka_client_options(settings))
    await consumer.start()
    header = {"topics": request.topics, "recorded_at": datetime.now().astimezone().isoformat(),
              "since": request.since.isoformat() if request.since else None,
              "until": request.until.isoformat() if request.until else None}
    writer = EventLogWriter(request.out, header)
    try:
        partitions = await _partitions(consumer, request.topics)
        consumer.assign(partitions)
        starts = await _start_offsets(consumer, partitions, request)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(partitions)
        open_parts = {tp for tp in partitions if request.follow or starts[tp] < ends[tp]}
        total = sum(max(ends[tp] - starts[tp], 0) for tp in partitions)
        until_ms = int(request.until.timestamp() * 1000) if request.until else None
        with Progress(TextColumn("recording"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      disable=not show_progress) as progress:
            task = progress.add_task("records", total=None if request.follow else total)
            flushed_at = time.monotonic()
            while open_parts:
                batch = await consumer.getmany(*open_parts, timeout_ms=500, max_records=5000)
                for tp, records in batch.items():
                    for r in records:
                        if until_ms is not None and r.timestamp > until_ms:
                            open_parts.discard(tp)
                            break
                        if not request.follow and r.offset >= ends[tp]:
                            open_parts.discard(tp)
                            break
                        writer.append(LogRecord(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value,
                                                tuple((k, bytes(v)) for k, v in r.headers)))
                        progress.advance(task)
                    if not request.follow and tp in open_parts and await consumer.position(tp) >= ends[tp]:
                        open_parts.discard(tp)
                if not request.follow:
                    for tp in list(open_parts):  # partitions with nothing left (compaction, transactions)
                        if await consumer.position(tp) >= ends[tp]:
                            open_parts.discard(tp)
                if time.monotonic() - flushed_at >= FLUSH_EVERY_S:
                    writer.flush()
                    flushed_at = time.monotonic()
    finally:
        writer.close()
        await consumer.stop()
    return writer.records


async def _partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    partitions: list[TopicPartition] = []
    for topic in topics:
        found = await topic_partitions(consumer, topic)
        if not found:
            raise ValueError(f"topic {topic!r} does not exist")
        partitions.extend(found)
    return partitions


async def _start_offsets(consumer: AIOKafkaConsumer, partitions: list[TopicPartition], request: RecordRequest
                         ) -> dict[TopicPartition, int]:
    beginnings = await consumer.beginning_offsets(partitions)
    starts = dict(beginnings)
    if request.since is not None:
        ends = await consumer.end_offsets(partitions)
        found = await consumer.offsets_for_times({tp: int(request.since.timestamp() * 1000) for tp in partitions})
        starts = {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in partitions}
    for (topic, partition), offset in request.start_offsets.items():
        tp = TopicPartition(topic, partition)
        if tp not in starts:
            raise ValueError(f"{topic}[{partition}] is not a partition of the recorded topics")
        starts[tp] = max(offset, beginnings[tp])
    return starts


def run_record(settings: Settings, request: RecordRequest) -> int:
    """Record until done, or until Ctrl-C (the log is then closed cleanly with what was recorded)."""
    try:
        return asyncio.run(record(settings, request))
    except KeyboardInterrupt:
        return -1
