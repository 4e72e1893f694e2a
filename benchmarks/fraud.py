"""`engine bench fraud`: the handbook's last 7 days through Kafka, Faust and Redis, scored live.

Phases, one run, one broker:
1. warm-up: days 0-20 and the labels that arrived by day 21 are put on the topics before the worker starts;
   the worker drains them (customer histories, terminal labels) -> `throughput_tx_s` from the score
   timestamps, read once the drain is over. A bare aiokafka consume-and-produce loop over the same
   transactions -> `raw_tx_s`, and a bare Faust agent doing the same -> `faust_baseline_tx_s` (what any
   Faust agent can reach here). The same agent then copies the first LATENCY_BASELINE_S seconds of the
   measured payments, paced at `--rate` with their labels produced meanwhile -> `faust_baseline_latency_*`
   (produce to copy readable: the floor any Faust agent has on this machine at that rate).
2. measured: days 21-27 at `--rate` tx/s with the labels arriving meanwhile -> latency from produce to
   the score being readable on `fraud-scores` (and `to_producer_*`: to the score's Kafka timestamp, when
   the worker handed it to its producer), and the detection metrics of those scores (model and the
   rules-only score published beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic_core import from_json, to_json
from rich.console import Console

from agents.kafka.topics import ensure_topics, kafka_client_options
from agents.worker_process import WorkerProcess
from benchmarks.environment import (
    bench_environment,
    create_topic,
    faust_baseline,
    faust_copy_running,
    free_port,
    percentile,
)
from devstack.stack import LOG_DIR
from engine.fraud.detection_metrics import detection_metrics
from engine.fraud.handbook import LABEL_DELAY, LabelledTx, read_handbook
from engine.fraud.report import model_folder
from engine.fraud.training import GAP_DAYS, TRAIN_DAYS
from engine.settings import Settings
from schemas import FraudLabel, Transaction

FIRST_TEST_DAY = TRAIN_DAYS + GAP_DAYS
# Seconds of the measured payments the bare Faust agent copies for its latency (~20,000 at 1,000/s: 200 past p99).
LATENCY_BASELINE_S = 20.0


def _transaction(row: LabelledTx) -> Transaction:
    tx = row.tx
    return Transaction(transaction_id=tx.transaction_id, occurred_at=tx.occurred_at, customer_id=tx.customer_id,
                       terminal_id=tx.terminal_id, amount=tx.amount, channel="card_present")


def _events(rows: list[LabelledTx]) -> list[tuple[datetime, int, str, bytes, bytes]]:
    """(arrival, order, kind, key, value): payments at their time, labels LABEL_DELAY later, by arrival."""
    events: list[tuple[datetime, int, str, bytes, bytes]] = []
    for index, row in enumerate(rows):
        key = row.tx.customer_id.encode()
        heapq.heappush(events, (row.tx.occurred_at, 2 * index + 1, "tx", key, _transaction(row).to_bytes()))
        arrival = row.tx.occurred_at + LABEL_DELAY
        label = FraudLabel(transaction_id=row.tx.transaction_id, customer_id=row.tx.customer_id,
                           terminal_id=row.tx.terminal_id, occurred_at=row.tx.occurred_at, fraud=row.fraud,
                           labelled_at=arrival)
        heapq.heappush(events, (arrival, 2 * index, "label", key, label.to_bytes()))
    return [heapq.heappop(events) for _ in range(len(events))]


class ScoreWatcher:
    """Reads fraud-scores (or `topic`) from the start; records when each record's transaction id became readable."""

    def __init__(self, settings: Settings, topic: str | None = None) -> None:
        self.settings = settings
        self.topic = topic or settings.topics.fraud_scores
        self.seen: dict[str, tuple[dict[str, Any], float, int]] = {}  # id -> (score, seen at, Kafka timestamp ms)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**kafka_client_options(self.settings), group_id=None, enable_auto_commit=False,
                                    fetch_max_wait_ms=5)
        await consumer.start()
        parts = [TopicPartition(self.topic, p) for p in range(self.settings.topics.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)

        async def follow() -> None:
            try:
                while True:
                    batch = await consumer.getmany(timeout_ms=50, max_records=5000)
                    now = time.time()
                    for records in batch.values():
                        for r in records:
                            # Plain JSON, not the pydantic model: this process shares the CPUs with the worker.
                            score = from_json(r.value or b"")
                            self.seen[score["transaction_id"]] = (score, now, r.timestamp)
            finally:
                await consumer.stop()

        self._task = asyncio.ensure_future(follow())

    async def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.seen)} of {count} scores after {timeout_s:.0f} s")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def _produce_all(settings: Settings, events: list[tuple[datetime, int, str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**kafka_client_options(settings), acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    topics = {"tx": settings.topics.transactions, "label": settings.topics.fraud_labels}
    try:
        for _, _, kind, key, value in events:
            await producer.send(topics[kind], value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def _raw_loop(settings: Settings, count: int, scratch: str) -> float:
    """A bare consume-and-produce loop over the transactions topic: messages per second."""
    consumer = AIOKafkaConsumer(**kafka_client_options(settings), group_id=None, enable_auto_commit=False)
    producer = AIOKafkaProducer(**kafka_client_options(settings), acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    try:
        topic = settings.topics.transactions
        parts = [TopicPartition(topic, p) for p in range(settings.topics.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        done, started = 0, time.perf_counter()
        while done < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for r in records:
                    await producer.send(scratch, r.value, key=r.key)
                    done += 1
        await producer.flush()
        return done / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


async def _paced(settings: Settings, events: list[tuple[datetime, int, str, bytes, bytes]], rate: float,
                 sent_at: dict[str, float], watcher: ScoreWatcher, scored_before: int,
                 topics: tuple[str, str] | None = None) -> float:
    """Payments at `rate` per second (returns the rate achieved); each label once every payment before it in
    event time is scored.

    Labels are consumed by their own reader and never queue behind payments: released early, a label
    reaches payments that, in event time, happened before it arrived (a future leak that inflated PR-AUC
    from 0.52 to 0.58 in an overloaded run), so they wait for the scores to catch up instead. `topics`:
    (payments, labels), the engine's own unless given.
    """
    payments_topic, labels_topic = topics or (settings.topics.transactions, settings.topics.fraud_labels)
    producer = AIOKafkaProducer(**kafka_client_options(settings), acks=1, linger_ms=0)
    await producer.start()
    payments = [(key, value) for _, _, kind, key, value in events if kind == "tx"]
    labels, before = [], 0
    for _, _, kind, key, value in events:
        if kind == "tx":
            before += 1
        else:
            labels.append((before, key, value))

    async def send_payments() -> float:
        started = time.perf_counter()
        for sent, (key, value) in enumerate(payments):
            delay = started + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[from_json(value)["transaction_id"]] = time.time()
            await producer.send(payments_topic, value, key=key)
        return len(payments) / (time.perf_counter() - started)

    async def send_labels() -> None:
        for payments_before, key, value in labels:
            while len(watcher.seen) < scored_before + payments_before:
                await asyncio.sleep(0.01)
            await producer.send(labels_topic, value, key=key)

    try:
        achieved, _ = await asyncio.gather(send_payments(), send_labels())
        await producer.flush()
        return achieved
    finally:
        await producer.stop()


async def _faust_latency(settings: Settings, measured: list[tuple[datetime, int, str, bytes, bytes]], rate: float,
                         console: Console) -> dict[str, Any]:
    """Produce -> copy readable through the bare Faust agent for the first LATENCY_BASELINE_S s of `measured`."""
    source, labels = (f"{settings.topics.transactions}-latency", f"{settings.topics.fraud_labels}-latency")
    for name in (source, f"{source}-faust-copy", labels):
        await create_topic(settings, name)
    limit, payments, events = max(1, int(rate * LATENCY_BASELINE_S)), 0, []
    for event in measured:
        if event[2] == "tx":
            if payments == limit:
                break
            payments += 1
        events.append(event)
    watcher = ScoreWatcher(settings, f"{source}-faust-copy")
    await watcher.start()
    try:
        with faust_copy_running(settings, source):
            probes = await _until_copying(settings, source, watcher)
            console.print(f"bare Faust agent latency: {payments} payments at {rate:.0f} tx/s, labels arriving")
            sent_at: dict[str, float] = {}
            with _no_collections():
                await _paced(settings, events, rate, sent_at, watcher, probes, (source, labels))
                await watcher.wait_for(probes + payments, timeout_s=600)
    finally:
        await watcher.stop()
    latencies = [(watcher.seen[tx_id][1] - at) * 1000 for tx_id, at in sent_at.items()]
    return {"faust_baseline_latency_payments": payments,
            "faust_baseline_latency_p50_ms": round(percentile(latencies, 0.5), 2),
            "faust_baseline_latency_p99_ms": round(percentile(latencies, 0.99), 2),
            "faust_baseline_latency_max_ms": round(max(latencies), 2)}


async def _until_copying(settings: Settings, topic: str, watcher: ScoreWatcher, timeout_s: float = 180.0) -> int:
    """Probe records into `topic` every half second until the copy agent (just started) copies one; returns
    how many were sent (each is copied once, so they count towards what the watcher will see)."""
    producer = AIOKafkaProducer(**kafka_client_options(settings), acks=1, linger_ms=0)
    await producer.start()
    deadline, sent = time.monotonic() + timeout_s, 0
    try:
        while not watcher.seen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bare Faust agent copied none of {sent} probes in {timeout_s:.0f} s")
            await producer.send_and_wait(topic, to_json({"transaction_id": f"probe-{sent}"}), key=b"probe")
            sent += 1
            await asyncio.sleep(0.5)
        return sent
    finally:
        await producer.stop()


async def _until_written(settings: Settings, topic: str, count: int, timeout_s: float) -> None:
    """Wait until `topic` holds at least `count` records, from its end offsets alone (no record is read)."""
    consumer = AIOKafkaConsumer(**kafka_client_options(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    parts = [TopicPartition(topic, p) for p in range(settings.topics.partitions)]
    deadline = time.monotonic() + timeout_s
    try:
        while (written := sum((await consumer.end_offsets(parts)).values())) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {written} of {count} records on {topic} after {timeout_s:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()


@contextlib.contextmanager
def _no_collections() -> Iterator[None]:
    """No garbage collection in this process while latency is measured.

    The watcher holds every score read: one full collection over 270,000 of them (0.8 M tracked objects) took
    0.5 s here, and about one run in two had a 0.9 s stall in its latencies (p99 306 ms, max 932 ms at 1,000/s).
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def _detection(scores: list[dict[str, Any]], rows: dict[str, LabelledTx]) -> dict[str, float]:
    return detection_metrics(labels=[rows[s["transaction_id"]].fraud for s in scores],
                             model=[s["score"] for s in scores], rules=[s["rules_score"] for s in scores],
                             days=[rows[s["transaction_id"]].day for s in scores],
                             customers=[s["customer_id"] for s in scores])


async def _run(settings: Settings, env: dict[str, str], rows: list[LabelledTx], rate: float, console: Console,
               workers: int = 1) -> dict[str, Any]:
    events = _events(rows)
    if rows[-1].day >= FIRST_TEST_DAY:
        first_test = min(r.tx.occurred_at for r in rows if r.day >= FIRST_TEST_DAY)
    else:  # a --limit run (a quick check): the last quarter of the rows is the measured part
        first_test = rows[len(rows) * 3 // 4].tx.occurred_at
    end = max(r.tx.occurred_at for r in rows)
    warm = [e for e in events if e[0] < first_test]
    measured = [e for e in events if first_test <= e[0] <= end]
    warm_tx = sum(1 for e in warm if e[2] == "tx")
    await ensure_topics(settings)
    scratch = f"{settings.topics.transactions}-raw-copy"
    await create_topic(settings, scratch)
    console.print(f"warm-up: producing {warm_tx} payments and {len(warm) - warm_tx} labels (days 0-20)")
    await _produce_all(settings, warm)
    raw_tx_s = await _raw_loop(settings, warm_tx, scratch)
    console.print(f"bare aiokafka consume-and-produce: {raw_tx_s:.0f} msg/s")
    faust_tx_s = await asyncio.to_thread(faust_baseline, settings, settings.topics.transactions, warm_tx)
    console.print(f"bare Faust agent consume-and-produce: {faust_tx_s:.0f} msg/s")
    faust_latency = await _faust_latency(settings, measured, rate, console)
    console.print(f"bare Faust agent latency p50 / p99: {faust_latency['faust_baseline_latency_p50_ms']:.1f} / "
                  f"{faust_latency['faust_baseline_latency_p99_ms']:.1f} ms")
    watcher = ScoreWatcher(settings)
    # Extra workers join the same consumer group (the partitions are split); each has its own port and folder.
    processes = [WorkerProcess(env if i == 0 else {**env, "ENGINE_WORKER_WEB_PORT": str(free_port()),
                                                   "ENGINE_DATA_DIR": f"{env['ENGINE_DATA_DIR']}-{i}"},
                               LOG_DIR / f"{settings.app_id}-worker{'' if i == 0 else i}.log") for i in range(workers)]
    await asyncio.gather(*(asyncio.to_thread(worker.start, 180.0) for worker in processes))
    try:
        # Scores are read only once the drain is over, as the bare agent's copies were never read during its
        # run: a reader decoding each score beside the worker would take CPU from it on these shared cores.
        await _until_written(settings, settings.topics.fraud_scores, warm_tx, timeout_s=1800)
        await watcher.start()
        await watcher.wait_for(warm_tx, timeout_s=600)
        stamps = sorted(ts for _, _, ts in watcher.seen.values())
        throughput = (len(stamps) - 1) / max((stamps[-1] - stamps[0]) / 1000, 1e-3)
        console.print(f"worker drained the warm-up at {throughput:.0f} tx/s")
        sent_at: dict[str, float] = {}
        test_tx = sum(1 for e in measured if e[2] == "tx")
        console.print(f"measured: {test_tx} payments at {rate:.0f} tx/s with "
                      f"{len(measured) - test_tx} labels arriving")
        with _no_collections():
            achieved = await _paced(settings, measured, rate, sent_at, watcher, warm_tx)
            await watcher.wait_for(warm_tx + test_tx, timeout_s=600)
    finally:
        await asyncio.gather(*(asyncio.to_thread(worker.stop) for worker in processes))
        await watcher.stop()
    by_id = {r.tx.transaction_id: r for r in rows}
    test_scores = [watcher.seen[tx_id][0] for tx_id in sent_at]
    latencies = [(watcher.seen[tx_id][1] - at) * 1000 for tx_id, at in sent_at.items()]
    # The score's Kafka timestamp is when the worker handed it to its producer: the worker's share of latency.
    in_worker = [watcher.seen[tx_id][2] - at * 1000 for tx_id, at in sent_at.items()]
    # scored_at is when the worker began the payment's batch: before it, fetch and batching; after it, scoring.
    to_batch = [(datetime.fromisoformat(watcher.seen[tx_id][0]["scored_at"]).timestamp() - at) * 1000
                for tx_id, at in sent_at.items()]
    return {
        "data": "handbook days 21-27" if rows[-1].day >= FIRST_TEST_DAY else f"first {len(rows)} rows, last quarter",
        "test_transactions": len(test_scores),
        "test_frauds": sum(by_id[s["transaction_id"]].fraud for s in test_scores),
        **_detection(test_scores, by_id),
        "alerts": sum(s["alert"] for s in test_scores),
        "latency_p50_ms": round(percentile(latencies, 0.5), 2),
        "latency_p99_ms": round(percentile(latencies, 0.99), 2),
        "latency_max_ms": round(max(latencies), 2),
        "to_producer_p50_ms": round(percentile(in_worker, 0.5), 2),
        "to_producer_p99_ms": round(percentile(in_worker, 0.99), 2),
        "to_batch_start_p50_ms": round(percentile(to_batch, 0.5), 2),
        "to_batch_start_p99_ms": round(percentile(to_batch, 0.99), 2),
        "mean_batch": round(len(test_scores) / max(len({s["scored_at"] for s in test_scores}), 1), 1),
        "offered_rate_tx_s": rate, "achieved_rate_tx_s": round(achieved, 1),
        "throughput_tx_s": round(throughput, 1), "raw_tx_s": round(raw_tx_s, 1),
        "throughput_ratio": round(throughput / raw_tx_s, 3),
        "faust_baseline_tx_s": round(faust_tx_s, 1), "ratio_to_faust_baseline": round(throughput / faust_tx_s, 3),
        **faust_latency,
        "model_version": test_scores[0]["model_version"] if test_scores else None,
        "workers": workers, "machine": f"{os.cpu_count()} CPUs",
    }


def run_fraud_bench(*, data: Path, model: Path, rate: float, out: Path | None, limit: int | None = None,
                    workers: int = 1) -> int:
    """Start services and `workers` real workers, stream the handbook, print and write the JSON figures."""
    console = Console()
    bench = bench_environment(console, "fraud", ("transactions", "fraud_labels", "fraud_scores", "fraud_alerts",
                                                 "fraud_reviews", "fraud_drift", "dead_letters"),
                              ENGINE_ROUTE__ENABLED="false", ENGINE_FRAUD__ENABLED="true",
                              ENGINE_FRAUD__MODEL_DIR=str(model), ENGINE_FRAUD__REVIEW_ENABLED="false")
    settings, env = bench.settings, bench.env
    rows = read_handbook(data, limit)
    try:
        summary = asyncio.run(_run(settings, env, rows, rate, console, workers))
    finally:
        bench.delete_topics(console)
    summary["run_id"] = bench.run_id  # names its topics, logs and Redis keys
    # The same test days scored offline by `fraud train`: the stream must match them.
    offline = json.loads((model_folder(model) / "metadata.json").read_text()).get("metrics", {})
    if "pr_auc" in offline and summary.get("pr_auc") is not None:
        summary["offline_pr_auc"] = offline["pr_auc"]
        summary["pr_auc_stream_minus_offline"] = round(summary["pr_auc"] - offline["pr_auc"], 4)
    console.print_json(json.dumps(summary))
    if out is not None:
        out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0
