"""`engine bench replay`: backtest speed against parsing the same log; replay speed against aiokafka.

1. Backtest: each log is first backtested once to fill the LLM answer cache (untimed), then again with
   answers from the cache only (timed) -> `backtest_events_s`; reading and validating every record of the
   same log -> `parse_events_s`; their ratio. Run for a routes log (the taxi sample, every cycle's Granite
   proposal from the cache) and a payments log (handbook days, scoring only: the review is off there).
2. Replay: the payments log published as fast as possible by `engine replay`'s code into fresh
   topics -> `replay_records_s`; the same records, already in memory, sent by a bare aiokafka producer with
   the same producer settings -> `bare_producer_records_s`; their ratio.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka.admin import NewTopic
from rich.console import Console

from agents.kafka.topics import admin_client
from agents.replay.replayer import ReplayRequest, replay, replay_producer
from devstack import start_all
from engine.llm.answer_cache import FileAnswerCache
from engine.replay.backtest import run_backtest
from engine.replay.datasets import fraud_log
from engine.replay.event_log import EventLogReader, LogRecord
from engine.routes.state import fleet_input_schemas
from engine.settings import Settings, load_settings
from schemas import FraudLabel, Transaction, WireModel, decode


def parse_rate(settings: Settings, log: Path) -> tuple[int, float]:
    """(records, seconds) to read the log and validate every record the backtest would take."""
    topics = settings.topics
    schema_for: dict[str, type[WireModel]] = {
        **fleet_input_schemas(topics), topics.transactions: Transaction, topics.fraud_labels: FraudLabel}
    started, count = time.perf_counter(), 0
    for record in EventLogReader(log):
        model = schema_for.get(record.topic)
        if model is not None:
            decode(model, record.value)
            count += 1
    return count, time.perf_counter() - started


def backtest_rate(settings: Settings, log: Path, workdir: Path) -> dict[str, Any]:
    """Backtest events/s with every LLM answer cached, against parsing the same log."""
    cache_path = Path(str(log) + ".answers.jsonl")
    if not cache_path.exists() or not cache_path.stat().st_size:
        cache_path = workdir / (log.name + ".answers.jsonl")
    run_backtest(settings, log, workdir / "warm.jsonl", cache=FileAnswerCache(cache_path), ask_model=True)
    run = run_backtest(settings, log, workdir / "timed.jsonl", cache=FileAnswerCache(cache_path), ask_model=False)
    records, parse_s = parse_rate(settings, log)
    events_s = run.summary.events / run.seconds
    parse_events_s = records / parse_s
    return {"log": str(log), "events": run.summary.events, "cycles": run.summary.cycles,
            "route_decisions": run.summary.route_decisions, "transactions_scored": run.summary.transactions_scored,
            "llm_cache_hits": run.llm_hits, "llm_cache_misses": run.llm_misses,
            "backtest_seconds": round(run.seconds, 3), "backtest_cycles_s": round(run.summary.cycles / run.seconds, 2),
            "backtest_events_s": round(events_s, 1),
            "parse_events_s": round(parse_events_s, 1), "ratio": round(events_s / parse_events_s, 5)}


async def _bare_producer_rate(settings: Settings, records: list[LogRecord], topic_of: dict[str, str]) -> float:
    producer = replay_producer(settings)
    await producer.start()
    try:
        started = time.perf_counter()
        for record in records:
            await producer.send(topic_of[record.topic], record.value, key=record.key,
                                timestamp_ms=record.timestamp_ms, headers=list(record.headers) or None)
        await producer.flush()
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def replay_rate(settings: Settings, log: Path) -> dict[str, Any]:
    """Records/s of the replay command's code and of a bare producer, each into its own fresh topics."""
    records = list(EventLogReader(log))
    names = sorted({r.topic for r in records})
    run = uuid.uuid4().hex[:8]
    replay_topics = {name: f"bench-replay-{run}-{name}" for name in names}
    bare_topics = {name: f"bench-bare-{run}-{name}" for name in names}
    admin = admin_client(settings)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, settings.topics.partitions, 1)
                                   for t in [*replay_topics.values(), *bare_topics.values()]])
    finally:
        await admin.close()
    bare = await _bare_producer_rate(settings, records, bare_topics)
    result = await replay(settings, ReplayRequest(log=log, speed=None, rename=replay_topics), show_progress=False)
    replayed = result.sent / result.seconds
    return {"log": str(log), "records": len(records), "replay_records_s": round(replayed, 1),
            "bare_producer_records_s": round(bare, 1), "ratio": round(replayed / bare, 4)}


def run_replay_bench(*, routes_log: Path, handbook: Path, fraud_days: int, out: Path | None) -> int:
    """Both measurements in one run; prints JSON (and writes it to `out`)."""
    console = Console(stderr=True)
    for line in start_all():
        console.print(line)
    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as folder:
        work = Path(folder)
        payments = work / "payments.log.zst"
        fraud_log(handbook, payments, first_day=0, last_day=fraud_days - 1)
        console.print(f"backtesting {routes_log} …")
        routes = backtest_rate(settings, routes_log, work)
        console.print(f"backtesting {fraud_days} handbook days …")
        if settings.fraud.model_dir.exists():
            # Every 15 s of two days' event time would ask the (tiny, random) reviewer: 11,520 model calls to
            # warm the cache. Scoring is what this log measures; the routes log measures cached LLM answers.
            scoring_only = settings.fraud.model_copy(update={"review_enabled": False})
            no_review = settings.model_copy(update={"fraud": scoring_only})
            fraud: dict[str, Any] = {**backtest_rate(no_review, payments, work), "review": "off"}
        else:
            fraud = {"skipped": f"no fraud model in {settings.fraud.model_dir} (engine fraud train)"}
        console.print("replaying into Kafka …")
        replayed = asyncio.run(replay_rate(settings, payments))
    result = {"backtest_routes": routes, "backtest_fraud": fraud, "replay": replayed}
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out.write_text(text + "\n")
    return 0
