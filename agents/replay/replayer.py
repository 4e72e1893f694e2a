"""Replayer: publish an EventLog back into Kafka — per-key order kept, paced or as fast as possible, resumable.

Every send is awaited: only records the broker acknowledged count as sent, and the first refusal stops the run
(ReplayRefusedError, with the count that did go out). `--shift-to-now` restamps from the current time without
ever stamping further ahead than the broker accepts (`message.timestamp.after.max.ms`, read from the broker).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import InvalidTimestampError, KafkaError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.kafka.topics import kafka_client_options
from engine.replay.event_log import LOOKAHEAD, EventLogReader, LogRecord, time_ordered
from engine.settings import Settings

__all__ = ["CHECKPOINT_EVERY", "LOOKAHEAD", "BrokerLimits", "ReplayRefusedError", "ReplayRequest", "ReplayResult",
           "broker_limits", "replay", "replay_producer", "time_ordered"]

CHECKPOINT_EVERY = 1000
DEFAULT_FUTURE_LIMIT_MS = 3_600_000  # Kafka 4.x default of log.message.timestamp.after.max.ms (1 h)
FUTURE_MARGIN_MS = 60_000  # stamps stay this far inside the limit (a tenth of it when the limit is small)


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
    """What a replay did: records the broker acknowledged, records skipped as sent before, how long it took."""

    sent: int  # acknowledged by the broker in this run
    skipped: int  # already sent by an earlier run (resume)
    seconds: float
    refused: int = 0  # records the broker refused (the run stopped at the first)
    shifted_back_s: float = 0.0  # --fast --shift-to-now: the first stamp lies this long before now (future limit)
    future_limit: BrokerLimits | None = None  # the limits read from the broker (--fast --shift-to-now only)


@dataclass(frozen=True)
class BrokerLimits:
    """How far ahead of the broker's clock it accepts a timestamp, how long it keeps records, and where from."""

    future_ms: int
    retention_ms: int | None  # None: unlimited or unknown
    source: str  # e.g. "topic orders (message.timestamp.after.max.ms)", or "assumed: Kafka 4 default"


class ReplayRefusedError(Exception):
    """The broker refused a record, so the replay stopped; `result.sent` counts the records it did acknowledge."""

    def __init__(self, result: ReplayResult, position: int, record: LogRecord, error: BaseException) -> None:
        self.result, self.position, self.record, self.error = result, position, record, error
        hint = ""
        if isinstance(error, InvalidTimestampError):
            hint = (" (the timestamp is outside what the topic accepts, message.timestamp.after.max.ms / "
                    "before.max.ms: --shift-to-now restamps from now)")
        reason = f"{type(error).__name__}: {error}".rstrip(": ")
        super().__init__(
            f"the broker refused record #{position} of {record.topic}[{record.partition}]@{record.offset} "
            f"(timestamp {record.timestamp_ms}): {reason}{hint}; {result.sent} record(s) acknowledged, "
            f"{result.refused} refused, replay stopped")


def _resume_point(request: ReplayRequest) -> int:
    if request.progress_file is None or not request.progress_file.exists():
        return 0
    try:
        state = json.loads(request.progress_file.read_text())
        log, sent = state.get("log"), int(state["sent"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{request.progress_file} is not a replay progress file ({error!r}): delete it to start "
                         "from the beginning") from error
    if log != str(request.log.resolve()):
        raise ValueError(f"{request.progress_file} belongs to {log}, not {request.log}")
    return sent


def _checkpoint(request: ReplayRequest, sent: int) -> None:
    if request.progress_file is not None:
        tmp = request.progress_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"log": str(request.log.resolve()), "sent": sent}) + "\n")
        tmp.replace(request.progress_file)  # atomic: a crash never leaves half a checkpoint


def replay_producer(settings: Settings) -> AIOKafkaProducer:
    """The replay's producer (the benchmark's bare baseline uses the same settings)."""
    # Idempotence keeps order across retries; one sender loop keeps log order.
    return AIOKafkaProducer(**kafka_client_options(settings), acks="all", enable_idempotence=True, linger_ms=5,
                            max_batch_size=512 * 1024)


def _config_values(responses: Iterable[Any]) -> dict[tuple[int, str], dict[str, str]]:
    """(resource type, name) -> {config name: value} from DescribeConfigs responses (errors left out)."""
    found: dict[tuple[int, str], dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] == 0:
                found[(resource["resource_type"], resource["resource_name"])] = {
                    entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
                    if entry["config_value"] is not None}
    return found


async def broker_limits(settings: Settings, topics: Iterable[str]) -> BrokerLimits:
    """The smallest future-timestamp limit (and retention) over `topics`, read from the broker.

    A topic that does not exist yet gets the broker's defaults when it is created. If the broker cannot be asked,
    Kafka 4's default future limit (1 h) is assumed.
    """
    names = sorted(set(topics))
    admin = AIOKafkaAdminClient(**kafka_client_options(settings))
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        cluster = await admin.describe_cluster()
        broker = str(cluster["brokers"][0]["node_id"])
        resources = [ConfigResource(ConfigResourceType.BROKER, broker,
                                    {"log.message.timestamp.after.max.ms": None, "log.retention.ms": None})]
        resources += [ConfigResource(ConfigResourceType.TOPIC, name,
                                     {"message.timestamp.after.max.ms": None, "retention.ms": None})
                      for name in names if name in existing]
        values = _config_values(await admin.describe_configs(resources))
    except (KafkaError, OSError, KeyError, IndexError, TypeError, ValueError):
        return BrokerLimits(DEFAULT_FUTURE_LIMIT_MS, None, "assumed: Kafka 4 default, the broker could not be asked")
    finally:
        await admin.close()
    candidates: list[tuple[int, int | None, str]] = []
    for name in names:
        topic = values.get((int(ConfigResourceType.TOPIC), name))
        if topic and "message.timestamp.after.max.ms" in topic:
            retention = int(topic.get("retention.ms", "-1"))
            candidates.append((int(topic["message.timestamp.after.max.ms"]), retention if retention >= 0 else None,
                               f"topic {name} (message.timestamp.after.max.ms)"))
    broker_values = values.get((int(ConfigResourceType.BROKER), broker), {})
    if len(candidates) < len(names) and "log.message.timestamp.after.max.ms" in broker_values:
        retention = int(broker_values.get("log.retention.ms", "-1"))
        candidates.append((int(broker_values["log.message.timestamp.after.max.ms"]),
                           retention if retention >= 0 else None, "broker (log.message.timestamp.after.max.ms)"))
    if not candidates:
        return BrokerLimits(DEFAULT_FUTURE_LIMIT_MS, None, "assumed: Kafka 4 default, not in the broker's answer")
    future_ms, _, source = min(candidates, key=lambda c: c[0])
    retentions = [c[1] for c in candidates if c[1] is not None]
    return BrokerLimits(future_ms, min(retentions) if retentions else None, source)


@dataclass(frozen=True)
class _Span:
    """The records one run sends: the first's timestamp, the latest timestamp, and their target topics."""

    first_ms: int | None
    last_ms: int | None
    topics: frozenset[str]


def _span(request: ReplayRequest, resume_at: int) -> _Span:
    """One pass over the log (in replay order) for what --fast --shift-to-now must know before it stamps."""
    first: int | None = None
    last: int | None = None
    topics: set[str] = set()
    reader = EventLogReader(request.log, strict=not request.allow_truncated)
    for position, record in enumerate(time_ordered(reader), 1):
        if position <= resume_at:
            continue
        if request.stop_after is not None and position > resume_at + request.stop_after:
            break
        first = record.timestamp_ms if first is None else first
        last = record.timestamp_ms if last is None else max(last, record.timestamp_ms)
        topics.add(request.rename.get(record.topic, record.topic))
    return _Span(first, last, frozenset(topics))


async def _fast_shift_back(settings: Settings, request: ReplayRequest, resume_at: int
                           ) -> tuple[float, BrokerLimits | None]:
    """Seconds the stamps of a --fast --shift-to-now replay start before now, so that none lies further ahead
    than the broker accepts (the spacing kept), and the limits that came from."""
    span = _span(request, resume_at)
    if span.first_ms is None or span.last_ms is None:
        return 0.0, None
    limits = await broker_limits(settings, span.topics)
    allowed = limits.future_ms - min(FUTURE_MARGIN_MS, limits.future_ms // 10)
    return max(0, span.last_ms - span.first_ms - allowed) / 1000, limits


class _Sender:
    """Hands records to the producer and keeps count of what the broker answered: acknowledged, or refused."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.handed = 0
        self.acknowledged = 0
        self.failures: list[tuple[int, LogRecord, BaseException]] = []  # (position in the log, record, error)
        self.window: list[tuple[int, LogRecord, asyncio.Future[Any]]] = []  # sends not yet known to be answered

    async def send(self, position: int, record: LogRecord, topic: str, partition: int | None, timestamp: int) -> None:
        try:
            future = await self.producer.send(topic, record.value, key=record.key, partition=partition,
                                              timestamp_ms=timestamp, headers=list(record.headers) or None)
        except KafkaError as error:  # refused before it was queued: too large, no such topic, ...
            self.failures.append((position, record, error))
            return
        self.window.append((position, record, future))
        self.handed += 1

    async def answered(self) -> None:
        """Wait until every record handed over so far is acknowledged or refused, and count which."""
        if not self.window:
            return
        window, self.window = self.window, []
        await self.producer.flush()
        pending = [future for _, _, future in window if not future.done()]
        if pending:  # flush() returns once the batches are answered; this only waits for stragglers
            await asyncio.wait(pending)
        for position, record, future in window:
            error = future.exception() if not future.cancelled() else asyncio.CancelledError("send cancelled")
            if error is None:
                self.acknowledged += 1
            else:
                self.failures.append((position, record, error))


async def replay(settings: Settings, request: ReplayRequest, show_progress: bool = True) -> ReplayResult:
    """Send the log's records in timestamp order, each partition's (hence each key's) order kept.

    Only acknowledged records count; the first refusal stops the run and raises ReplayRefusedError once every
    record already handed to the producer has been answered (the progress file then holds the acknowledged
    prefix, so a rerun resumes at the refused record).
    """
    if request.speed is not None and request.speed <= 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    resume_at = _resume_point(request)
    shifted_back_s, limits = 0.0, None
    if request.shift_to_now and request.speed is None:
        shifted_back_s, limits = await _fast_shift_back(settings, request, resume_at)
    sender = _Sender(replay_producer(settings))
    reader = EventLogReader(request.log, strict=not request.allow_truncated)
    started, position = time.monotonic(), 0
    anchor_ts: int | None = None  # timestamp of the first record sent in this run: pacing counts from it
    base_ms = int(time.time() * 1000) - int(shifted_back_s * 1000)
    try:
        await sender.producer.start()
        with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      disable=not show_progress) as progress:
            task = progress.add_task("records", total=None)
            for record in time_ordered(reader):
                position += 1
                if position <= resume_at:
                    continue
                if sender.failures or (request.stop_after is not None and sender.handed >= request.stop_after):
                    break
                if anchor_ts is None:
                    anchor_ts = record.timestamp_ms
                offset_s = (record.timestamp_ms - anchor_ts) / 1000 / (request.speed or 1.0)
                if request.speed is not None:
                    delay = started + offset_s - time.monotonic()
                    if delay > 0:  # records of other partitions can be slightly older: never wait for those
                        await asyncio.sleep(delay)
                await sender.send(position, record, request.rename.get(record.topic, record.topic),
                                  record.partition if request.keep_partitions else None,
                                  base_ms + int(offset_s * 1000) if request.shift_to_now else record.timestamp_ms)
                progress.advance(task)
                if sender.handed % CHECKPOINT_EVERY == 0 and sender.window:
                    await sender.answered()
                    if not sender.failures:  # everything before is acknowledged: safe to resume after it
                        _checkpoint(request, resume_at + sender.handed)
        await sender.answered()
        if not sender.failures:
            _checkpoint(request, resume_at + sender.handed)
    finally:
        await sender.producer.stop()
    result = ReplayResult(sent=sender.acknowledged, skipped=min(resume_at, position),
                          seconds=time.monotonic() - started, refused=len(sender.failures),
                          shifted_back_s=shifted_back_s, future_limit=limits)
    if sender.failures:
        first = min(sender.failures, key=lambda failure: failure[0])
        _checkpoint(request, first[0] - 1)  # every record before the first refused one was acknowledged
        raise ReplayRefusedError(result, *first)
    return result
