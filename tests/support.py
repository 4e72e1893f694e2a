"""Helpers for integration tests: isolated settings, a real worker process, Kafka and Redis clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents.kafka.topics import read_whole_topic
from agents.worker_process import WorkerProcess as AgentWorkerProcess
from benchmarks.environment import free_port
from engine.routes.state import FleetState, split_record_key
from engine.settings import Settings, load_settings_with

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = "127.0.0.1:9092"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class IsolatedEngine:
    """Settings whose topics, consumer group and Redis keys no other test shares."""

    env: dict[str, str]
    settings: Settings

    @classmethod
    def create(cls, data_dir: Path, **overrides: str) -> IsolatedEngine:
        run = uuid.uuid4().hex[:8]
        env = {
            "ENGINE_ROUTE__ENABLED": "false",
            "ENGINE_APP_ID": f"test-{run}",
            "ENGINE_REDIS_PREFIX": f"test-{run}",
            "ENGINE_DATA_DIR": str(data_dir),
            "ENGINE_WORKER_WEB_PORT": str(free_port()),
            "ENGINE_CYCLE_SECONDS": "2",
        }
        for topic in ("orders", "vehicles", "traffic", "transactions", "fraud_labels", "routes", "decisions",
                      "fraud_scores", "fraud_alerts", "fraud_reviews", "fraud_drift", "dead_letters"):
            env[f"ENGINE_TOPICS__{topic.upper()}"] = f"{topic.replace('_', '-')}-{run}"
        env.update(overrides)
        return cls(env=env, settings=load_settings_with(env))


class WorkerProcess(AgentWorkerProcess):
    """A worker running with one IsolatedEngine's settings."""

    def __init__(self, engine: IsolatedEngine, log_path: Path) -> None:
        super().__init__(engine.env, log_path)
        self.engine = engine


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    """Poll condition until it returns something truthy; fail with what it was waiting for."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


def produce(topic: str, messages: list[tuple[bytes | None, bytes]], gap_s: float = 0.0) -> None:
    """Send (key, value) pairs in order, gap_s apart, and wait for every acknowledgement."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for key, value in messages:
                await producer.send_and_wait(topic, value, key=key)
                if gap_s:
                    await asyncio.sleep(gap_s)
        finally:
            await producer.stop()

    asyncio.run(send())


@dataclass(frozen=True)
class ConsumedRecord:
    """One record read back from a topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    timestamp_ms: int = 0


def consume_all(topic: str, timeout_s: float = 10.0, expect: int | None = None) -> list[ConsumedRecord]:
    """Every record now on topic (all partitions), read from the beginning without a consumer group."""
    records = asyncio.run(read_whole_topic({"bootstrap_servers": BOOTSTRAP}, topic, timeout_s=timeout_s,
                                           expect=expect))
    return [ConsumedRecord(r.partition, r.offset, r.key, r.value, {k: bytes(v) for k, v in r.headers}, r.timestamp)
            for r in records]


def latest_table_values(changelog_topic: str) -> dict[bytes, dict[str, Any]]:
    """The newest value per key on a Faust table's changelog, decoded as JSON."""
    latest: dict[bytes, dict[str, Any]] = {}
    for record in sorted(consume_all(changelog_topic), key=lambda r: (r.partition, r.offset)):
        if record.key is not None and record.value is not None:
            latest[record.key] = json.loads(record.value)
    return latest


def fleet_from_changelog(changelog_topic: str, fleet_id: str) -> tuple[FleetState, int]:
    """The fleet as a restarted worker would rebuild it from the per-entity changelog, and its largest record."""
    latest: dict[bytes, bytes | None] = {}
    for record in sorted(consume_all(changelog_topic), key=lambda r: (r.partition, r.offset)):
        if record.key is not None:
            latest[record.key] = record.value  # a None value is a tombstone: the record is deleted
    records = [(split_record_key(k)[1], v) for k, v in latest.items()
               if v is not None and split_record_key(k)[0] == fleet_id]
    return FleetState.from_records(fleet_id, records), max((len(v) for _, v in records), default=0)


def committed_offsets(group_id: str, topic: str) -> dict[int, int]:
    """The consumer group's committed offset per partition of topic."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def read() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group_id)
        finally:
            await admin.close()
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}

    return asyncio.run(read())


def commit_offset(group_id: str, topic: str, partition: int, offset: int) -> None:
    """Move a consumer group's committed offset (the group must have no live members)."""

    async def commit() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group_id, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            await consumer.commit({tp: offset})
        finally:
            await consumer.stop()

    asyncio.run(commit())


@contextmanager
def llama_server(model: Path, n_ctx: int, log_path: Path) -> Iterator[str]:
    """`python -m llama_cpp.server` serving model on a free loopback port; yields its root URL (no /v1)."""
    import httpx
    import pytest

    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", str(n_ctx), "--seed", "0", "--verbose", "False"],
            stdout=log, stderr=subprocess.STDOUT)
        root = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{root}/v1/models", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama.cpp server did not start (exit {process.returncode}):\n"
                                f"{log_path.read_text(errors='replace')[-2000:]}")
                time.sleep(0.2)
            yield root
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
