"""Recorder: copy Kafka topics into an EventLog (by time range or start offsets), with a progress bar.

The partitions are read side by side and written merged by timestamp (PartitionMerge), each partition's order
kept: the log is in the order replay and backtest read it, however the broker's fetches came back.
"""

from __future__ import annotations

import asyncio
import difflib
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.kafka.topics import kafka_client_options, topic_partitions
from engine.replay.event_log import EventLogWriter, LogRecord, PartitionMerge
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
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()  # a broker that cannot be reached leaves no open client behind
        raise
    header = {"topics": request.topics, "recorded_at": datetime.now().astimezone().isoformat(),
              "since": request.since.isoformat() if request.since else None,
              "until": request.until.isoformat() if request.until else None}
    writer = EventLogWriter(request.out, header)
    merge = PartitionMerge()
    try:
        partitions = await _partitions(consumer, request.topics)
        consumer.assign(partitions)
        starts = await _start_offsets(consumer, partitions, request)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(partitions)
        copy = _Copy(consumer, request, ends, merge,
                     open_parts={tp for tp in partitions if request.follow or starts[tp] < ends[tp]})
        total = sum(max(ends[tp] - starts[tp], 0) for tp in partitions)
        with Progress(TextColumn("recording"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      disable=not show_progress) as progress:
            task = progress.add_task("records", total=None if request.follow else total)
            flushed_at = time.monotonic()
            while copy.open_parts:
                for item in await copy.step():
                    writer.append(item)
                    progress.advance(task)
                if time.monotonic() - flushed_at >= FLUSH_EVERY_S:
                    writer.flush()
                    flushed_at = time.monotonic()
    finally:
        for item in merge.drain():  # stopped (Ctrl-C) or done: what was read is kept, merged
            writer.append(item)
        writer.close()
        await consumer.stop()
    return writer.records


@dataclass
class _Copy:
    """The partitions being read and the merge they feed; `step` reads once and returns what may be written."""

    consumer: AIOKafkaConsumer
    request: RecordRequest
    ends: dict[TopicPartition, int]
    merge: PartitionMerge
    open_parts: set[TopicPartition]

    def __post_init__(self) -> None:
        until = self.request.until
        self.until_ms = int(until.timestamp() * 1000) if until else None

    async def step(self) -> list[LogRecord]:
        """Read only the partitions with nothing waiting; a record is written once every partition still being
        read has one waiting, so the log comes out merged by time whatever order the fetches return in."""
        follow = self.request.follow
        hungry = [tp for tp in self.open_parts if not self.merge.waiting(_slot(tp))]
        batch = await self.consumer.getmany(*hungry, timeout_ms=500, max_records=5000) if hungry else {}
        for tp, records in batch.items():
            for r in records:
                past_until = self.until_ms is not None and r.timestamp > self.until_ms
                if past_until or (not follow and r.offset >= self.ends[tp]):
                    self.open_parts.discard(tp)
                    break
                self.merge.add(LogRecord(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value,
                                         tuple((k, bytes(v)) for k, v in r.headers)))
        if not follow:
            for tp in list(self.open_parts):  # read to the end (also with nothing left: compaction, transactions)
                if await self.consumer.position(tp) >= self.ends[tp]:
                    self.open_parts.discard(tp)
        reading = {_slot(tp) for tp in self.open_parts}
        if follow:  # a partition with nothing new does not hold the others back
            reading -= {_slot(tp) for tp in hungry if tp not in batch and await _caught_up(self.consumer, tp)}
        return list(self.merge.ready(reading))


def _slot(tp: TopicPartition) -> tuple[str, int]:
    return tp.topic, tp.partition


async def _caught_up(consumer: AIOKafkaConsumer, tp: TopicPartition) -> bool:
    """Whether the consumer has read everything the partition held at its last fetch (follow mode)."""
    highwater = consumer.highwater(tp)
    return highwater is not None and await consumer.position(tp) >= highwater


async def _partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    partitions: list[TopicPartition] = []
    for topic in topics:
        found = await topic_partitions(consumer, topic)
        if not found:
            close = difflib.get_close_matches(topic, sorted(await consumer.topics()), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"--topic {topic}: no such topic on the broker{hint}")
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
