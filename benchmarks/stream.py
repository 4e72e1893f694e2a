"""`engine bench stream`: route cycles on the real pipeline under a steady stream of one or more fleets."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from agents.kafka.topics import kafka_client_options
from agents.worker_process import WorkerProcess
from benchmarks.environment import bench_environment, percentile
from engine.settings import Settings
from schemas import DecisionRecord, GeoPoint, OrderEvent, RoutePlan, TimeWindow, TrafficEvent, VehicleEvent

CENTRE = (53.4084, -2.9916)


def _point(rng: random.Random, radius_deg: float = 0.04) -> GeoPoint:
    return GeoPoint(lat=CENTRE[0] + rng.uniform(-radius_deg, radius_deg),
                    lon=CENTRE[1] + rng.uniform(-radius_deg, radius_deg) * 1.6)


def _fleet_events(fleet: str, vehicles: int, orders: int, now: datetime, rng: random.Random) -> list[tuple[str, Any]]:
    shift = TimeWindow(start=now - timedelta(hours=1), end=now + timedelta(hours=8))
    events: list[tuple[str, Any]] = [
        ("vehicles", VehicleEvent(event_id=f"v{i}-0", fleet_id=fleet, vehicle_id=f"van-{i}", occurred_at=now,
                                  position=_point(rng), capacity=40, shift=shift))
        for i in range(vehicles)
    ]
    for i in range(orders):
        opens = now + timedelta(minutes=rng.randint(0, 90))
        events.append(("orders", OrderEvent(
            event_id=f"o{i}-c", action="create", fleet_id=fleet, order_id=f"o{i}", occurred_at=now,
            location=_point(rng), demand=rng.randint(1, 5), service_time_s=rng.choice([60, 120, 180]),
            time_window=TimeWindow(start=opens, end=opens + timedelta(minutes=rng.choice([60, 120, 240]))),
        )))
    return events


async def _run(settings: Settings, *, vehicles: int, orders: int, fleets: int, cycles: int, seed: int
               ) -> dict[str, Any]:
    rng = random.Random(seed)
    names = [f"bench-fleet-{k + 1}" for k in range(fleets)]
    topics = settings.topics
    producer = AIOKafkaProducer(**kafka_client_options(settings), acks="all", max_request_size=4_194_304)
    await producer.start()
    now = datetime.now(UTC)
    for fleet in names:
        for topic, event in _fleet_events(fleet, vehicles, orders, now, rng):
            await producer.send(getattr(topics, topic), event.to_bytes(), key=fleet.encode())
    await producer.flush()
    consumer = AIOKafkaConsumer(topics.routes, topics.decisions, **kafka_client_options(settings), group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=16_777_216)
    await consumer.start()
    decisions: list[DecisionRecord] = []
    published: list[tuple[RoutePlan, int]] = []
    next_change, change, next_order = time.monotonic() + 10, 0, orders
    deadline = time.monotonic() + cycles * settings.cycle_seconds * 3 + 180

    def done() -> bool:
        return all(sum(d.fleet_id == f for d in decisions) >= cycles for f in names)

    try:
        while not done() and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.topic == topics.routes:
                        published.append((RoutePlan.from_bytes(record.value or b""), record.timestamp))
                    else:
                        decisions.append(DecisionRecord.from_bytes(record.value or b""))
            if time.monotonic() >= next_change:  # traffic comes and goes; orders keep arriving and closing
                at = datetime.now(UTC)
                change += 1
                for fleet in names:
                    jam = TrafficEvent(event_id=f"jam-{change}", fleet_id=fleet, occurred_at=at,
                                       area={"kind": "circle", "center": _point(rng), "radius_m": 1500},  # type: ignore[arg-type]
                                       speed_factor=round(rng.uniform(0.2, 0.6), 2), valid_from=at,
                                       valid_until=at + timedelta(seconds=settings.cycle_seconds * 2))
                    await producer.send(topics.traffic, jam.to_bytes(), key=fleet.encode())
                    cancel = OrderEvent(event_id=f"x{change}", action="cancel", fleet_id=fleet,
                                        order_id=f"o{rng.randrange(next_order)}", occurred_at=at)
                    await producer.send(topics.orders, cancel.to_bytes(), key=fleet.encode())
                    for _, event in _fleet_events(fleet, 0, 1, at, rng):
                        event = event.model_copy(update={"order_id": f"o{next_order}",
                                                         "event_id": f"o{next_order}-c"})
                        await producer.send(topics.orders, event.to_bytes(), key=fleet.encode())
                next_order += 1
                next_change = time.monotonic() + settings.cycle_seconds
    finally:
        await consumer.stop()
        await producer.stop()
    return _summarise(settings, decisions, published, vehicles, orders, names)


def _summarise(settings: Settings, decisions: list[DecisionRecord], published: list[tuple[RoutePlan, int]],
               vehicles: int, orders: int, fleets: list[str]) -> dict[str, Any]:
    latencies = [ts / 1000 - plan.cycle_at.timestamp() for plan, ts in published]

    def fleet_figures(fleet: str) -> dict[str, Any]:
        own = [d for d in decisions if d.fleet_id == fleet]
        own_latency = [ts / 1000 - p.cycle_at.timestamp() for p, ts in published if p.fleet_id == fleet]
        return {"cycles": len(own), "llm_share": round(sum(bool(d.llm_asked) for d in own) / max(len(own), 1), 3),
                "published_within_cycle_pct": round(100 * sum(lat < settings.cycle_seconds for lat in own_latency)
                                                    / max(len(own), 1), 1),
                "mean_unassigned": round(statistics.mean([len(p.unassigned) for p, _ in published
                                                          if p.fleet_id == fleet] or [float("nan")]), 1)}

    stages: dict[str, list[float]] = {}
    for record in decisions:
        for stage, ms in record.stage_ms.items():
            stages.setdefault(stage, []).append(ms)
    llm_records = [r for r in decisions if r.llm_parse_ok is not None]
    raw_feasible = [r for r in decisions if any(c.source == "llm" and c.feasible for c in r.candidates)]
    return {
        "fleets": len(fleets), "vehicles": vehicles, "open_orders": orders, "cycle_seconds": settings.cycle_seconds,
        "per_fleet": {fleet: fleet_figures(fleet) for fleet in fleets},
        "cycles": len(decisions), "published": len(published),
        "published_within_cycle_pct": round(100 * sum(lat < settings.cycle_seconds for lat in latencies)
                                            / max(len(decisions), 1), 1),
        "publish_latency_s": {"p50": round(percentile(latencies, 0.5), 3),
                              "p99": round(percentile(latencies, 0.99), 3),
                              "max": round(max(latencies, default=float("nan")), 3)},
        "stage_ms": {stage: {"p50": percentile(v, 0.5), "p99": percentile(v, 0.99)} for stage, v in stages.items()},
        "llm": {
            "answered": len(llm_records),
            "parsed": sum(1 for r in llm_records if r.llm_parse_ok),
            "feasible_as_proposed": len(raw_feasible),
            "accepted_as_proposed": sum(1 for r in decisions if r.chosen_source == "llm"),
            "won_after_repair": sum(1 for r in decisions if r.chosen_source == "llm_repaired"),
            "beaten": sum(1 for r in llm_records if r.chosen_source not in ("llm", "llm_repaired")),
        },
        "chosen_sources": {s: sum(1 for r in decisions if r.chosen_source == s)
                           for s in sorted({str(r.chosen_source) for r in decisions})},
        "mean_unassigned": round(statistics.mean([len(p.unassigned) for p, _ in published]), 1) if published else None,
    }


def run_stream_bench(*, vehicles: int, orders: int, cycles: int, cycle_seconds: float, model: Path,
                     out: Path | None, fleets: int = 1, seed: int = 1) -> int:
    """Start services and a real worker, stream a fleet, and report how cycles kept their deadline."""
    console = Console()
    topics = ("orders", "vehicles", "traffic", "routes", "decisions", "dead_letters")
    bench = bench_environment(console, "stream", topics,
                              ENGINE_CYCLE_SECONDS=str(cycle_seconds), ENGINE_LLM__MODEL_PATH=str(model),
                              # 100 vehicles and 40 orders are ~9k tokens for the tiny model (one token a byte).
                              ENGINE_LLM__N_CTX="16384", ENGINE_LLM__MAX_TOKENS="1024")
    settings = bench.settings
    worker = WorkerProcess(bench.env, bench.log_file("worker"))
    worker.start()
    try:
        summary = asyncio.run(_run(settings, vehicles=vehicles, orders=orders, fleets=fleets, cycles=cycles, seed=seed))
    finally:
        worker.stop()
        bench.delete_topics(console)
    table = Table(title=f"Route cycles: {fleets} fleet(s) x {vehicles} vehicles, {orders} open orders, "
                        f"LLM {model.name}")
    table.add_column("stage")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    for stage, values in summary["stage_ms"].items():
        table.add_row(stage, f"{values['p50']:.0f}", f"{values['p99']:.0f}")
    console.print(table)
    console.print(json.dumps({k: v for k, v in summary.items() if k != "stage_ms"}, indent=2))
    if out is not None:
        out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["cycles"] >= cycles * fleets and summary["published_within_cycle_pct"] == 100.0 else 1
