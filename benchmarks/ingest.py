"""`engine bench ingest`: events/s through the real fleet-state agent at two fleet sizes, against bare Faust.

One worker (route cycle and fraud off), one broker; for each size (the small fleet, then the large one):
1. load: N open orders and M vehicles of one fleet, keyed by the fleet id; wait until the Redis summary says
   the worker applied them all.
2. measured: `events` vehicle position updates (a random vehicle, a newer fix each time) produced as fast as
   aiokafka goes -> events/s from the first produce to the summary reporting them all applied.
3. the fleet-entities changelog records of the fleet written in step 2 -> bytes (key + value) per event and
   the largest record.
4. a bare Faust agent copying the same vehicle-update bytes from a topic of its own -> its messages/s.
rate(large) / rate(small) near 1 says the per-event cost does not grow with the fleet.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.console import Console

from agents.kafka.topics import kafka_client_options, topic_partitions
from agents.routes.fleet_state import FLEET_ENTITY_TABLE
from agents.routes.summary_store import SummaryStore
from agents.worker_process import WorkerProcess
from benchmarks.environment import bench_environment, create_topic, faust_baseline
from engine.routes.state import ENTITY_SEPARATOR, META, split_record_key
from engine.settings import Settings
from schemas import GeoPoint, OrderEvent, TimeWindow, VehicleEvent

# Every keyed topic private: the worker checks their partition counts against each other.
TOPICS = ("orders", "vehicles", "traffic", "transactions", "fraud_labels", "dead_letters")
CENTRE = (53.4084, -2.9916)
POLL_S = 0.05  # Redis summary polling; the worker writes it about once a second anyway
WAIT_S = 900.0


@dataclass(frozen=True)
class Fleet:
    """One fleet's wire messages: the load (orders, vehicles) and the measured vehicle updates."""

    fleet_id: str
    orders: list[bytes]
    vehicles: list[bytes]
    updates: list[bytes]


def _point(rng: random.Random) -> GeoPoint:
    return GeoPoint(lat=CENTRE[0] + rng.uniform(-0.04, 0.04), lon=CENTRE[1] + rng.uniform(-0.064, 0.064))


def build_fleet(fleet_id: str, *, orders: int, vehicles: int, updates: int, start: datetime,
                rng: random.Random) -> Fleet:
    """Open orders, vehicles and `updates` position fixes (random vehicle, each newer), serialised once."""
    shift = TimeWindow(start=start - timedelta(hours=1), end=start + timedelta(hours=8))
    order_bytes = []
    for i in range(orders):
        opens = start + timedelta(minutes=rng.randint(0, 90))
        order_bytes.append(OrderEvent(
            event_id=f"o{i}-create", action="create", fleet_id=fleet_id, order_id=f"o{i}", occurred_at=start,
            location=_point(rng), demand=rng.randint(1, 5), service_time_s=rng.choice([60, 120, 180]),
            time_window=TimeWindow(start=opens, end=opens + timedelta(minutes=rng.choice([60, 120, 240]))),
        ).to_bytes())
    capacity = [rng.randint(20, 60) for _ in range(vehicles)]

    def fix(vehicle: int, event_id: str, at: datetime) -> bytes:
        return VehicleEvent(event_id=event_id, fleet_id=fleet_id, vehicle_id=f"van-{vehicle}", occurred_at=at,
                            position=_point(rng), capacity=capacity[vehicle], shift=shift).to_bytes()

    vehicle_bytes = [fix(v, f"van-{v}-0", start) for v in range(vehicles)]
    update_bytes = [fix(rng.randrange(vehicles), f"fix-{i}", start + timedelta(milliseconds=i + 1))
                    for i in range(updates)]
    return Fleet(fleet_id, order_bytes, vehicle_bytes, update_bytes)


async def _produce(settings: Settings, key: str, messages: list[tuple[str, bytes]]) -> None:
    """Send every (topic, value) keyed by `key` as fast as aiokafka batches them, then flush."""
    producer = AIOKafkaProducer(**kafka_client_options(settings), acks=1, linger_ms=5, max_batch_size=512 * 1024)
    await producer.start()
    try:
        for topic, value in messages:
            await producer.send(topic, value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _wait_applied(store: SummaryStore, fleet_id: str, count: int, timeout_s: float = WAIT_S) -> float:
    """perf_counter() when the fleet's Redis summary first reports `count` events applied."""
    deadline = time.monotonic() + timeout_s
    applied = 0
    while time.monotonic() < deadline:
        applied = int((await store.read(fleet_id)).get("events_applied") or 0)
        if applied >= count:
            return time.perf_counter()
        await asyncio.sleep(POLL_S)
    raise TimeoutError(f"fleet {fleet_id}: {applied} of {count} events applied after {timeout_s:.0f} s")


@dataclass(frozen=True)
class ChangelogUse:
    """The fleet's changelog records written since a time: how many, their bytes, the largest, the last stamp."""

    records: int
    total_bytes: int
    largest_bytes: int
    last_timestamp_ms: int


async def _changelog_since(settings: Settings, fleet_id: str, since_ms: int, applied: int,
                           timeout_s: float = 120.0) -> ChangelogUse:
    """The fleet's fleet-entities changelog records stamped since since_ms, read until its `applied`-th event's."""
    consumer = AIOKafkaConsumer(**kafka_client_options(settings), group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=50)
    await consumer.start()
    try:
        topic = f"{settings.app_id}-{FLEET_ENTITY_TABLE}-changelog"
        parts = await topic_partitions(consumer, topic, wait_s=30)
        if not parts:
            raise RuntimeError(f"no changelog topic {topic}")
        consumer.assign(parts)
        starts = await consumer.offsets_for_times(dict.fromkeys(parts, since_ms))
        for tp, found in starts.items():
            if found is None:  # nothing written there since then
                await consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, found.offset)
        records = total = largest = last_ms = 0
        ends: dict[TopicPartition, int] | None = None  # where to stop, once the last event's meta record is in
        deadline = time.monotonic() + timeout_s
        while ends is None or [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fleet {fleet_id}: changelog of {applied} events not read after {timeout_s} s")
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for part_records in batch.values():
                for r in part_records:
                    key = r.key or b""
                    owner, suffix = split_record_key(key)
                    if owner != fleet_id or r.timestamp < since_ms:
                        continue
                    size = len(key) + len(r.value or b"")
                    records, total, largest = records + 1, total + size, max(largest, size)
                    last_ms = max(last_ms, r.timestamp)
                    is_meta = suffix.partition(ENTITY_SEPARATOR)[0] == META
                    if ends is None and is_meta and json.loads(r.value or b"{}")["events_applied"] >= applied:
                        # An event's records come in set order: its entity record may follow the meta one.
                        await asyncio.sleep(0.5)
                        ends = await consumer.end_offsets(parts)
        return ChangelogUse(records, total, largest, last_ms)
    finally:
        await consumer.stop()


async def _baseline(settings: Settings, fleet: Fleet, label: str) -> float:
    """The bare Faust agent's messages/s copying the fleet's update bytes from a topic of its own."""
    topic = f"{settings.app_id}-{label}"
    await create_topic(settings, topic)
    # Keyed by the fleet like the real input: one partition, as one fleet is for the agent.
    await _produce(settings, fleet.fleet_id, [(topic, value) for value in fleet.updates])
    return await asyncio.to_thread(faust_baseline, settings, topic, len(fleet.updates), label)


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process has used (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(settings: Settings, store: SummaryStore, fleet: Fleet, label: str, worker_pid: int,
                   console: Console) -> dict[str, Any]:
    topics = settings.topics
    loaded = len(fleet.orders) + len(fleet.vehicles)
    console.print(f"{label}: loading {len(fleet.orders)} orders and {len(fleet.vehicles)} vehicles")
    started = time.perf_counter()
    await _produce(settings, fleet.fleet_id, [(topics.orders, v) for v in fleet.orders]
                   + [(topics.vehicles, v) for v in fleet.vehicles])
    load_s = await _wait_applied(store, fleet.fleet_id, loaded) - started
    console.print(f"{label}: {len(fleet.updates)} vehicle updates, as fast as they go")
    cpu_before = _cpu_s(worker_pid)
    first_ms, first = int(time.time() * 1000), time.perf_counter()
    await _produce(settings, fleet.fleet_id, [(topics.vehicles, v) for v in fleet.updates])
    produced_s = time.perf_counter() - first
    done_s = await _wait_applied(store, fleet.fleet_id, loaded + len(fleet.updates)) - first
    cpu_after = _cpu_s(worker_pid)
    events_per_s = len(fleet.updates) / done_s
    use = await _changelog_since(settings, fleet.fleet_id, first_ms, loaded + len(fleet.updates))
    console.print(f"{label}: {events_per_s:.0f} events/s; bare Faust agent on the same bytes ...")
    baseline = await _baseline(settings, fleet, f"baseline-{label}")
    console.print(f"{label}: bare Faust agent {baseline:.0f} msg/s")
    return {
        "orders": len(fleet.orders), "vehicles": len(fleet.vehicles), "events": len(fleet.updates),
        "events_per_s": round(events_per_s, 1),
        "faust_baseline_per_s": round(baseline, 1),
        "ratio": round(events_per_s / baseline, 3),
        "changelog_bytes_per_event": round(use.total_bytes / len(fleet.updates), 1),
        "changelog_records_per_event": round(use.records / len(fleet.updates), 3),
        "largest_record_bytes": use.largest_bytes,
        # The last changelog write's own stamp: the same rate without the summary's ~1 s flush granularity.
        "events_per_s_by_changelog": round(len(fleet.updates) / max((use.last_timestamp_ms - first_ms) / 1000,
                                                                    1e-3), 1),
        # CPU the worker spent per event: the per-event cost, whatever else the shared cores were doing.
        "worker_cpu_ms_per_event": None if cpu_before is None or cpu_after is None
        else round((cpu_after - cpu_before) * 1000 / len(fleet.updates), 3),
        "produce_s": round(produced_s, 3), "load_s": round(load_s, 3),
    }


async def _measure_all(settings: Settings, fleets: list[tuple[str, Fleet]], worker_pid: int, console: Console
                       ) -> list[dict[str, Any]]:
    store = SummaryStore(str(settings.redis_url), settings.redis_prefix)
    try:
        return [await _measure(settings, store, fleet, label, worker_pid, console) for label, fleet in fleets]
    finally:
        await store.close()


def ingest_bench(console: Console, *, orders: int, vehicles: int, small_orders: int, events: int,
                 seed: int = 1) -> dict[str, Any]:
    """Start a real worker, measure the small fleet then the large one; the figures as a JSON-ready dict."""
    bench = bench_environment(console, "ingest", TOPICS, ENGINE_ROUTE__ENABLED="false",
                              ENGINE_FRAUD__ENABLED="false")
    # An hour back: the updates, 1 ms apart, stay dated in the past (never refused as from the future).
    rng, start = random.Random(seed), datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    fleets = [(label, build_fleet(f"ingest-{label}", orders=n, vehicles=vehicles, updates=events, start=start,
                                  rng=rng))
              for label, n in (("small", small_orders), ("large", orders))]
    worker = WorkerProcess(bench.env, bench.log_file("worker"))
    worker.start(180.0)
    assert worker.process is not None
    try:
        sizes = asyncio.run(_measure_all(bench.settings, fleets, worker.process.pid, console))
    finally:
        worker.stop()
        bench.delete_topics(console)
    return {
        "sizes": sizes,
        "rate_large_over_small": round(sizes[1]["events_per_s"] / sizes[0]["events_per_s"], 3),
        "cpu_per_event_large_over_small": None if None in (sizes[0]["worker_cpu_ms_per_event"],
                                                           sizes[1]["worker_cpu_ms_per_event"])
        else round(sizes[1]["worker_cpu_ms_per_event"] / sizes[0]["worker_cpu_ms_per_event"], 3),
        "cores": os.cpu_count(),
        "run_id": bench.run_id,
    }


def run_ingest_bench(*, orders: int, vehicles: int, small_orders: int, events: int, out: Path | None) -> int:
    """Run the benchmark, print the JSON and write it to `out`."""
    console = Console()
    summary = ingest_bench(console, orders=orders, vehicles=vehicles, small_orders=small_orders, events=events)
    console.print_json(json.dumps(summary))
    if out is not None:
        out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0
