"""Replayer: publish an EventLog back into Kafka — per-key order kept, paced or as fast as possible, resumable."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.kafka.topics import kafka_client_options
from engine.replay.event_log import EventLogReader, LogRecord
from engine.settings import Settings

CHECKPOINT_EVERY = 1000
LOOKAHEAD = 20_000


@dataclass
class ReplayRequest:
    """How to replay a log."""

    log: Path
    speed: float | None = 1.0  # None: as fast as possible
    rename: dict[str, str] = field(default_factory=dict)  # recorded topic -> target topic
    shift_to_now: bool = False  # timestamps move so the first record is "now" (spacing scaled by speed)
    keep_partitions: bool = False  # send to the recorded partition instead of the key's partition
    progress_file: Path | None = None  # where the count of acknowledged records is kept, for resuming
    allow_truncated: bool = False  # replay what an interrupted recording holds
    stop_after: int | None = None  # send at most this many records in this run (then resume later)


@dataclass
class ReplayResult:
    sent: int
    skipped: int  # already sent by an earlier run (resume)
    seconds: float


def _resume_point(request: ReplayRequest) -> int:
    if request.progress_file is None or not request.progress_file.exists():
        return 0
    state = json.loads(request.progress_file.read_text())
    if state.get("log") != str(request.log.resolve()):
        raise ValueError(f"{request.progress_file} belongs to {state.get('log')}, not {request.log}")
    return int(state["sent"])


def _checkpoint(request: ReplayRequest, sent: int) -> None:
    if request.progress_file is not None:
        tmp = request.progress_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"log": str(request.log.resolve()), "sent": sent}) + "\n")
        tmp.replace(request.progress_file)  # atomic: a crash never leaves half a checkpoint


def time_ordered(records: Iterable[LogRecord], lookahead: int = LOOKAHEAD) -> Iterator[LogRecord]:
    """Records merged by timestamp across partitions, each partition's own order kept (hence per-key order).

    A recording interleaves partitions batch by batch; replaying in that order would send one partition's
    later records before another's earlier ones. The merge looks `lookahead` records ahead, so memory
    stays bounded whatever the log's size, and it is deterministic (resuming counts positions in it).
    """
    queues: dict[tuple[str, int], deque[LogRecord]] = {}
    heads: list[tuple[int, int, tuple[str, int]]] = []  # (timestamp of the queue's head, tie-break, queue)
    sequence = itertools.count()
    buffered = 0

    def pop() -> LogRecord:
        nonlocal buffered
        _, _, slot = heapq.heappop(heads)
        queue = queues[slot]
        record = queue.popleft()
        buffered -= 1
        if queue:
            heapq.heappush(heads, (queue[0].timestamp_ms, next(sequence), slot))
        return record

    for record in records:
        slot = (record.topic, record.partition)
        queue = queues.setdefault(slot, deque())
        if not queue:
            heapq.heappush(heads, (record.timestamp_ms, next(sequence), slot))
        queue.append(record)
        buffered += 1
        if buffered > lookahead:
            yield pop()
    while heads:
        yield pop()


def replay_producer(settings: Settings) -> AIOKafkaProducer:
    """The replay's producer (the benchmark's bare baseline uses the same settings)."""
    # Idempotence keeps order across retries; one sender loop keeps log order.
    return AIOKafkaProducer(**kafka_client_options(settings), acks="all", enable_idempotence=True, linger_ms=5,
                            max_batch_size=512 * 1024)


async def replay(settings: Settings, request: ReplayRequest, show_progress: bool = True) -> ReplayResult:
    """Send the log's records in timestamp order, each partition's (hence each key's) order kept."""
    if request.speed is not None and request.speed <= 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    resume_at = _resume_point(request)
    producer = replay_producer(settings)
    await producer.start()
    reader = EventLogReader(request.log, strict=not request.allow_truncated)
    started, sent, position = time.monotonic(), 0, 0
    anchor_ts: int | None = None  # timestamp of the first record sent in this run: pacing counts from it
    now_ms = int(time.time() * 1000)
    try:
        with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      disable=not show_progress) as progress:
            task = progress.add_task("records", total=None)
            for record in time_ordered(reader):
                position += 1
                if position <= resume_at:
                    continue
                if request.stop_after is not None and sent >= request.stop_after:
                    break
                if anchor_ts is None:
                    anchor_ts = record.timestamp_ms
                offset_s = (record.timestamp_ms - anchor_ts) / 1000 / (request.speed or 1.0)
                if request.speed is not None:
                    delay = started + offset_s - time.monotonic()
                    if delay > 0:  # records of other partitions can be slightly older: never wait for those
                        await asyncio.sleep(delay)
                timestamp = now_ms + int(offset_s * 1000) if request.shift_to_now else record.timestamp_ms
                await producer.send(
                    request.rename.get(record.topic, record.topic), record.value, key=record.key,
                    partition=record.partition if request.keep_partitions else None,
                    timestamp_ms=timestamp, headers=list(record.headers) or None,
                )
                sent += 1
                progress.advance(task)
                if sent % CHECKPOINT_EVERY == 0:
                    await producer.flush()  # everything before is acknowledged: safe to resume after it
                    _checkpoint(request, resume_at + sent)
        await producer.flush()
        _checkpoint(request, resume_at + sent)
    finally:
        await producer.stop()
    return ReplayResult(sent=sent, skipped=min(resume_at, position), seconds=time.monotonic() - started)

