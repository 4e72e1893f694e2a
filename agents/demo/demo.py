"""The demo: local services, a real worker, a synthetic fleet stream, and the state changing live."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import deque
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from agents.demo.simulator import FleetSimulator, SimulatedEvent
from agents.kafka.topics import ensure_topics, kafka_client_options
from agents.routes.plan_store import PlanStore
from agents.routes.summary_store import SummaryStore
from agents.worker_process import WorkerProcess
from devstack import start_all
from devstack.stack import LOG_DIR
from engine.settings import Settings
from schemas import DeadLetter, GeoPoint, OrderEvent, RoutePlan, VehicleEvent

# Every Nth event the demo also sends a broken one, to show the dead-letter path working live.
MALFORMED_EVERY = 40
MALFORMED = (b'{"event_id": "broken", "action": "create"', b'{"event_id": "x", "action": "teleport"}')


class DemoView:
    """What the terminal shows: fleet summaries from Redis, recent events, dead letters."""

    def __init__(self, fleets: list[str]) -> None:
        self.fleets = fleets
        self.summaries: dict[str, dict[str, str]] = {}
        self.plans: dict[str, RoutePlan] = {}
        self.recent: deque[str] = deque(maxlen=10)
        self.sent = 0
        self.malformed_sent = 0
        self.dead_letters: deque[str] = deque(maxlen=3)
        self.dead_letter_count = 0
        self.closed = 0  # cancel/offline events sent when the run stopped
        self.started = time.monotonic()

    def render(self) -> Group:
        table = Table(title="Live fleet state (Redis summaries written by the Faust worker)", expand=True)
        for column in ("fleet", "open orders", "open demand", "closed", "vehicles", "free capacity",
                       "active jams", "events applied", "last event (UTC)"):
            table.add_column(column, justify="right" if column != "fleet" else "left")
        for fleet in self.fleets:
            s = self.summaries.get(fleet, {})
            last = s.get("last_event_at", "")[11:19]
            table.add_row(fleet, s.get("open_orders", "-"), s.get("open_demand", "-"), s.get("closed_orders", "-"),
                          s.get("vehicles", "-"), s.get("free_capacity", "-"), s.get("active_traffic", "-"),
                          s.get("events_applied", "-"), last)
        elapsed = time.monotonic() - self.started
        recent = Panel("\n".join(self.recent) or "(waiting)", title=f"events sent: {self.sent} in {elapsed:.0f} s")
        letters = Panel(
            "\n".join(self.dead_letters) or "(none yet)",
            title=f"dead-letter topic: {self.dead_letter_count} received / {self.malformed_sent} malformed sent",
        )
        plans = Table(title="Latest checked route plan per fleet (Redis, from the route cycle)", expand=True)
        for column in ("fleet", "cycle (UTC)", "chosen", "stops planned", "vehicles used", "unassigned",
                       "travel min"):
            plans.add_column(column, justify="left" if column in ("fleet", "chosen") else "right")
        for fleet in self.fleets:
            plan = self.plans.get(fleet)
            if plan is None:
                plans.add_row(fleet, "-", "(first cycle pending)", "-", "-", "-", "-")
                continue
            plans.add_row(fleet, plan.cycle_at.strftime("%H:%M:%S"), plan.source,
                          str(sum(len(r.stops) for r in plan.routes)), str(len(plan.routes)),
                          str(len(plan.unassigned)), f"{sum(r.travel_seconds for r in plan.routes) / 60:.0f}")
        return Group(table, plans, recent, letters)


def event_line(item: SimulatedEvent) -> str:
    event = item.event
    at = event.occurred_at.strftime("%H:%M:%S")
    if isinstance(event, OrderEvent):
        extra = f" demand {event.demand}" if event.demand else ""
        extra += f"  note={event.note!r}" if event.note else ""
        return f"{at} order   {event.action:8} {event.order_id}{extra}"
    if isinstance(event, VehicleEvent):
        pos = event.position
        where = f"{pos.lat:.4f},{pos.lon:.4f}" if isinstance(pos, GeoPoint) else f"{pos.x:.1f},{pos.y:.1f}"
        return f"{at} vehicle {event.vehicle_id} at {where}"
    return f"{at} traffic {event.event_id} speed x{event.speed_factor} until {event.valid_until:%H:%M}"


async def _feed(settings: Settings, simulator: FleetSimulator, view: DemoView, rate: float,
                stop: asyncio.Event) -> None:
    topic_names = {"orders": settings.topics.orders, "vehicles": settings.topics.vehicles,
                   "traffic": settings.topics.traffic}
    producer = AIOKafkaProducer(**kafka_client_options(settings), acks="all")
    await producer.start()
    pending: deque[SimulatedEvent] = deque()
    try:
        while not stop.is_set():
            if not pending:
                pending.extend(simulator.advance(datetime.now(UTC)))
            if pending:
                item = pending.popleft()
                await producer.send_and_wait(topic_names[item.topic], item.event.to_bytes(), key=item.key.encode())
                view.sent += 1
                view.recent.appendleft(event_line(item))
                if view.sent % MALFORMED_EVERY == 0:
                    broken = MALFORMED[view.malformed_sent % len(MALFORMED)]
                    await producer.send_and_wait(settings.topics.orders, broken, key=item.key.encode())
                    view.malformed_sent += 1
            await asyncio.sleep(1 / rate)
        # Closing the run's orders and vans: the worker's table keeps these fleets, but nothing in them to plan.
        closing = simulator.wind_down(datetime.now(UTC))
        for item in closing:
            await producer.send(topic_names[item.topic], item.event.to_bytes(), key=item.key.encode())
        await producer.flush()
        view.closed = len(closing)
    finally:
        await producer.stop()


async def _watch_dead_letters(settings: Settings, view: DemoView, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(settings.topics.dead_letters, **kafka_client_options(settings),
                                group_id=None, auto_offset_reset="latest")
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    view.dead_letter_count += 1
                    letter = DeadLetter.from_bytes(record.value or b"")
                    errors = "; ".join(f"{e.location}: {e.message}" for e in letter.errors)[:140]
                    view.dead_letters.appendleft(f"{letter.source_topic}@{letter.offset}: {errors}")
    finally:
        await consumer.stop()


async def _refresh(settings: Settings, view: DemoView, live: Live, stop: asyncio.Event) -> None:
    # The same stores the worker writes through, so the demo reads the keys apps would read.
    summaries = SummaryStore(str(settings.redis_url), settings.redis_prefix)
    plans = PlanStore(str(settings.redis_url), settings.redis_prefix)
    try:
        while not stop.is_set():
            for fleet in view.fleets:
                view.summaries[fleet] = await summaries.read(fleet)
                plan = await plans.latest(fleet)
                if plan is not None:
                    view.plans[fleet] = plan
            live.update(view.render())
            await asyncio.sleep(0.5)
    finally:
        await summaries.close()
        await plans.close()


async def _run(settings: Settings, simulator: FleetSimulator, duration_s: float | None, rate: float,
               console: Console) -> DemoView:
    view = DemoView([f.fleet_id for f in simulator.fleets])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with Live(view.render(), console=console, refresh_per_second=4) as live:
        tasks = [asyncio.create_task(coro) for coro in (
            _feed(settings, simulator, view, rate, stop),
            _watch_dead_letters(settings, view, stop),
            _refresh(settings, view, live, stop),
        )]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=duration_s)
        stop.set()
        await asyncio.gather(*tasks)
        live.update(view.render())
    return view


def run_demo(settings: Settings, *, duration_s: float | None, fleets: int, rate: float, run_id: str) -> int:
    """Start Kafka and Redis if needed, run a worker, stream synthetic events of this run's fleets live."""
    console = Console()
    # run_tag: a second start with the same run id must not reuse order ids the worker holds as closed.
    simulator = FleetSimulator(fleets, datetime.now(UTC), seed=int(time.time()), run_id=run_id,
                               run_tag=f"{time.time():.0f}")
    names = ", ".join(f.fleet_id for f in simulator.fleets)
    console.print(f"[bold]Run {run_id}[/]: fleets {names} (`engine demo --run-id {run_id} --reset` deletes "
                  "their Redis keys)")
    console.print("[bold]Starting Kafka and Redis[/] (reused when already running)...")
    for line in start_all():
        console.print(f"  {line}")
    created = asyncio.run(ensure_topics(settings))
    if created:
        console.print(f"  created topics: {', '.join(created)}")
    worker = WorkerProcess({}, LOG_DIR / "worker.log")
    console.print(f"[bold]Starting the Faust worker[/] (log: {worker.log_path})...")
    worker.start()
    try:
        until = f"for {duration_s:.0f} s" if duration_s else "until Ctrl-C"
        console.print(f"[bold]Streaming[/] {rate:g} events/s for {fleets} fleet(s) {until}.")
        view = asyncio.run(_run(settings, simulator, duration_s, rate, console))
        console.print(f"Closed run {run_id}: {view.closed} cancel/offline events sent, so its fleets keep no open "
                      "orders or vans in the worker's table.")
    finally:
        console.print("Stopping the worker (offsets committed on a clean stop)...")
        worker.stop()
    console.print("Kafka and Redis keep running: `python -m devstack stop` stops them.")
    return 0
