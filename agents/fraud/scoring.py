"""The fraud-scoring agent: transactions in batches -> features -> scores, alerts, Redis risk, dead letters."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from faust.transport.drivers.aiokafka import Producer as AiokafkaProducer
from faust.types import TP, TableT

from agents.fraud.batches import ready_batches
from agents.fraud.label_feed import LabelFeed
from agents.fraud.prometheus import FraudMetrics
from agents.fraud.risk_store import RiskStore, TerminalRates
from agents.kafka.collector import COLLECTOR_RELIEF
from agents.kafka.dead_letters import DeadLetters
from agents.kafka.gap_guard import GapGuard, InputMessage
from agents.kafka.input_transaction import batch_before_commit, send_with_input
from agents.kafka.table_write import delete_on_partition, write_on_partition
from agents.kafka.topics import RAW_BYTES, bytes_table, kafka_client_options
from engine.fraud.drift import DriftMonitor
from engine.fraud.features import TERMINAL_WINDOWS, FeatureBatch, TxView
from engine.fraud.history_log import PartitionHistories, split_chunk_key
from engine.fraud.intake import read_transaction
from engine.fraud.review import ReviewCase, bounded_pool, review_case
from engine.fraud.risk_assessor import BlockLists, RiskAssessor
from engine.fraud.scorer import FraudScorer
from engine.settings import Settings
from schemas import DecodeError, FraudLabel, FraudScore, Transaction

log = logging.getLogger(__name__)

CUSTOMER_TABLE = "fraud-customer-chunks"
PROGRESS_TABLE = "fraud-input-progress"
ALERT_MEMORY = 200_000  # alerted transaction ids kept to match late labels (alert precision)
RATES_EVERY_S = 0.05  # terminal rates in Redis trail the labels by about this much


Record = tuple[int, bytes, bytes]  # (partition, key, value)


class Publisher:
    """Sends raw records in one produce batch per partition with the app's aiokafka producer: one await per
    partition and batch instead of one per record (Faust's topic.send halved a bare agent's throughput
    here, 1,750 vs 3,520 msg/s, before batching). Under exactly_once, each record goes into the transaction of
    the input partition it was scored from, so it commits with that partition's offsets."""

    def __init__(self, app: faust.App, exactly_once: bool, source_topic: str = "") -> None:
        self.app = app
        self.exactly_once = exactly_once
        self.source_topic = source_topic

    async def send_many(self, topic: faust.TopicT, records: list[Record]) -> None:
        """Queue the records (not waiting for delivery: Faust flushes the producer before it commits offsets)."""
        if self.exactly_once:
            name = topic.get_topic_name()
            for partition, key, value in records:
                await send_with_input(self.app, name, self.source_topic, partition, key, value)
            return
        producer = self._producer()
        name = topic.get_topic_name()
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for partition, key, value in records:
            by_partition.setdefault(partition, []).append((key, value))
        for partition, pairs in by_partition.items():
            batch = producer.create_batch()
            for key, value in pairs:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                    await producer.send_batch(batch, name, partition=partition)
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            await producer.send_batch(batch, name, partition=partition)

    def _producer(self) -> AIOKafkaProducer:
        producer = self.app.producer
        if not isinstance(producer, AiokafkaProducer):
            raise TypeError(f"the fraud publisher needs Faust's aiokafka producer, not {type(producer).__name__}")
        return producer._ensure_producer()


class CustomerViews:
    """The customer histories of the partitions this worker owns, kept in step with the chunk table.

    A batch appends one chunk record per touched partition (engine/fraud/history_log.py), never a whole
    history; after a rebalance the views are replayed from the recovered table, owned partitions only.
    """

    def __init__(self, table: TableT[bytes, bytes]) -> None:
        self.table = table
        self.partitions: dict[int, PartitionHistories] = {}
        self.owned: set[int] | None = None  # None until the first recovery says which partitions are ours

    def partition(self, partition: int) -> PartitionHistories:
        found = self.partitions.get(partition)
        if found is None:
            found = self.partitions[partition] = PartitionHistories(partition)
        return found

    def persist(self, partition: int) -> int:
        """Write the partition's new chunk (and expired chunks' tombstones); returns the bytes written."""
        if self.owned is not None and partition not in self.owned:
            # Revoked while the batch ran: its new owner writes that partition's chunks now (same keys).
            self.partitions.pop(partition, None)
            return 0
        written = 0
        for key, value in self.partition(partition).take_records().items():
            if value is None:
                delete_on_partition(self.table, partition, key)
            else:
                write_on_partition(self.table, partition, key, value)
                written += len(key) + len(value)
        return written

    def forget(self, partitions: set[int]) -> None:
        """Drop revoked partitions' histories at once (another worker scores those customers now)."""
        for partition in partitions:
            self.partitions.pop(partition, None)
        if self.owned is not None:
            self.owned -= partitions

    def rebuild(self, owned: set[int] | None) -> None:
        """Replay the table's chunks (O(state), once per rebalance); None rebuilds the partitions held now."""
        if owned is None:
            owned = set(self.partitions)
        else:
            self.owned = set(owned)
        grouped: dict[int, list[tuple[int, bytes]]] = {}
        for key, value in list(self.table.data.items()):
            partition, seq = split_chunk_key(key)
            if partition in owned:
                grouped.setdefault(partition, []).append((seq, value))
            else:  # a revoked partition's live writes stay in the memory store; they are another worker's now
                self.table.data.pop(key, None)
        self.partitions = {p: PartitionHistories.replay(p, chunks) for p, chunks in grouped.items()}


class FraudScoring:
    """Scores batches of transactions; keeps customer histories in a changelog-backed table."""

    def __init__(self, settings: Settings, assessor: RiskAssessor, views: CustomerViews, feed: LabelFeed,
                 store: RiskStore,
                 scores: faust.TopicT, alerts: faust.TopicT, dead_letters: DeadLetters, metrics: FraudMetrics,
                 drift: DriftMonitor, publisher: Publisher) -> None:
        self.settings = settings.fraud
        self.assessor = assessor
        self.views = views
        self.feed = feed
        self.store = store
        self.scores = scores
        self.alerts = alerts
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.drift = drift
        self.publisher = publisher
        self._blocked = BlockLists()
        self._blocked_read_at = -1e9
        self.alerted: OrderedDict[str, None] = OrderedDict()
        self._risk_pending: dict[str, bytes] = {}  # Redis entries not yet written, newest per key
        self._risk_flush: asyncio.Future[None] | None = None
        self._rates_pending: dict[str, None] = {}  # terminals whose Redis rates are not yet rewritten, in order
        self._rates_flush: asyncio.Future[None] | None = None
        self.review_pool: list[ReviewCase] = []

    async def score_batch(self, messages: list[InputMessage]) -> list[FraudScore]:
        """Validate, featurise, score and publish; returns the published scores (in input order)."""
        started = time.perf_counter()
        touched: set[int] = set()  # partitions whose histories this batch changed
        try:
            scores = await self._score(messages, touched)
        except BaseException:
            # Histories were changed in place before the table write: replay them from the table, which
            # the redelivered batch will be applied to.
            self.views.rebuild(None)
            raise
        self.metrics.scored.inc(len(scores))
        self.metrics.alerts.inc(sum(s.alert for s in scores))
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return scores

    async def _score(self, messages: list[InputMessage], touched: set[int]) -> list[FraudScore]:
        now = datetime.now(UTC)
        blocked = await self._block_lists()
        accepted: list[tuple[Transaction, TxView, int]] = []
        batch = FeatureBatch()  # each payment read against its history as it arrives; features derived at once
        for message in messages:
            try:
                tx = read_transaction(message.value, message.key, now, self.settings.max_future_s)
            except DecodeError as error:
                await self.dead_letters.reject(message, error)
                continue
            histories = self.views.partition(message.partition)
            history = histories.history(tx.customer_id)
            if history.has(tx.transaction_id):
                self.metrics.duplicates.inc()
                log.info("transaction %s seen before; skipped", tx.transaction_id)
                continue
            view = TxView(tx.transaction_id, tx.occurred_at, tx.customer_id, tx.terminal_id, tx.amount)
            batch.take(view, history, self.feed.terminals.get(tx.terminal_id))
            accepted.append((tx, view, message.partition))
            histories.add(view)
            touched.add(message.partition)
        matrix = batch.matrix()
        features = batch.rows(matrix)
        scores = self.assessor.assess([(view, f) for (_, view, _), f in zip(accepted, features, strict=True)],
                                      blocked, now, matrix)
        # Scores keep their payment's partition: both topics have the same partitions and are keyed by customer.
        published = [(partition, tx.customer_id.encode(), score.to_bytes())
                     for (tx, _, partition), score in zip(accepted, scores, strict=True)]
        await self.publisher.send_many(self.scores, published)
        await self.publisher.send_many(self.alerts, [record for record, score in zip(published, scores, strict=True)
                                                     if score.alert])
        for (tx, _, _), score in zip(accepted, scores, strict=True):
            if score.alert:
                self._remember_alert(tx.transaction_id)
            self.drift.observe_score(score.model_score)
            if self.settings.review_enabled:  # nobody takes the pool otherwise
                self._pool(tx, score)
        for partition in touched:
            self.views.persist(partition)
        self._queue_risk(scores)
        return scores

    def _queue_risk(self, scores: list[FraudScore]) -> None:
        """Latest risk to Redis off the agent's path: one MSET in flight, batches arriving meanwhile merged
        into the next (a round trip per batch of a few payments cost as much as scoring them)."""
        self._risk_pending.update(self.store.score_entries(scores))
        if self._risk_flush is None or self._risk_flush.done():
            self._risk_flush = asyncio.ensure_future(self._flush_risk())

    async def _flush_risk(self) -> None:
        while self._risk_pending:
            entries, self._risk_pending = self._risk_pending, {}
            try:
                await self.store.write_entries(entries)
            except Exception as error:  # Redis down must not stop scoring; Kafka has every score
                log.error("could not write %s risk entries to Redis: %s", len(entries), error)

    async def _block_lists(self) -> BlockLists:
        if time.monotonic() - self._blocked_read_at >= self.settings.blocklist_refresh_s:
            try:
                self._blocked = await self.store.block_lists()
            except Exception as error:  # keep the last lists read; scoring goes on
                log.error("could not read block lists from Redis: %s", error)
            self._blocked_read_at = time.monotonic()
        return self._blocked

    def _remember_alert(self, transaction_id: str) -> None:
        self.alerted[transaction_id] = None
        if len(self.alerted) > ALERT_MEMORY:
            self.alerted.popitem(last=False)

    def _pool(self, tx: Transaction, score: FraudScore) -> None:
        case = review_case(tx, score)
        if case is None:
            return
        self.review_pool.append(case)
        self.review_pool = bounded_pool(self.review_pool, self.settings.alert_threshold)

    def take_review_pool(self) -> list[ReviewCase]:
        pool, self.review_pool = self.review_pool, []
        return pool

    async def on_labels(self, labels: list[FraudLabel]) -> None:
        """Labels arrived: alert precision, and the touched terminals' confirmed-fraud rates in Redis."""
        self.metrics.labels.inc(len(labels))
        for label in labels:
            if label.transaction_id in self.alerted:
                self.drift.observe_alert_outcome(label.fraud)
        self._rates_pending.update(dict.fromkeys(label.terminal_id for label in labels))
        if self._rates_flush is None or self._rates_flush.done():
            self._rates_flush = asyncio.ensure_future(self._flush_rates())

    async def _flush_rates(self) -> None:
        """Touched terminals' rates to Redis, RATES_EVERY_S apart, off the feed's path: labels came in a few
        at a time and a pipeline per handful cost a seventh of the worker at 2,000 labels/s. Rates are
        computed when written, from every label applied by then; the topic stays the source of truth."""
        while self._rates_pending:
            await asyncio.sleep(RATES_EVERY_S)
            terminals, self._rates_pending = self._rates_pending, {}
            rates = self._terminal_rates(terminals, datetime.now(UTC))
            try:
                await self.store.write_terminal_rates(rates)
            except Exception as error:  # Redis down must not stop the feed
                log.error("could not write %s terminal risk entries to Redis: %s", len(rates), error)

    def _terminal_rates(self, terminal_ids: dict[str, None], now: datetime) -> list[TerminalRates]:
        rates = []
        for terminal_id in terminal_ids:
            terminal = self.feed.terminals.get(terminal_id)
            if terminal is None or not terminal.labels:
                continue
            # Rates up to its newest labelled payment: labels describe the past, not the present.
            up_to = datetime.fromtimestamp(terminal.labels[-1][0], UTC)
            rate_7d, labelled_7d = terminal.risk(up_to, TERMINAL_WINDOWS["7d"])
            rate_30d, labelled_30d = terminal.risk(up_to, TERMINAL_WINDOWS["30d"])
            rates.append(TerminalRates(terminal_id, rate_7d, labelled_7d, rate_30d, labelled_30d, up_to, now))
        return rates


@dataclass
class FraudWiring:
    """What install_fraud_scoring registered, for the review cycle and tests."""

    scoring: FraudScoring
    feed: LabelFeed
    table: TableT[bytes, bytes]
    views: CustomerViews
    drift_topic: faust.TopicT


def install_fraud_scoring(app: faust.App, settings: Settings, metrics: FraudMetrics) -> FraudWiring:
    """Register the agent, its tables, the label feed task and the drift timer; loads the model now (fail fast)."""
    topics, fraud = settings.topics, settings.fraud
    scorer = FraudScorer.load(fraud.model_dir)
    assessor = RiskAssessor(scorer, alert_threshold=fraud.alert_threshold, max_amount=fraud.max_amount,
                            top_reasons=fraud.top_reasons)
    drift = DriftMonitor(scorer.metadata.get("score_reference"), model_version=scorer.version,
                         window=fraud.drift_window, max_psi=fraud.drift_max_psi,
                         min_precision=fraud.drift_min_precision, min_labelled_alerts=fraud.drift_min_labelled_alerts)
    transactions = app.topic(topics.transactions, partitions=topics.partitions, **RAW_BYTES)
    scores = app.topic(topics.fraud_scores, partitions=topics.partitions, **RAW_BYTES)
    alerts = app.topic(topics.fraud_alerts, partitions=topics.partitions, **RAW_BYTES)
    drift_topic = app.topic(topics.fraud_drift, partitions=topics.partitions, **RAW_BYTES)
    dead_letters = DeadLetters(app.topic(topics.dead_letters, partitions=topics.partitions, **RAW_BYTES),
                               counted=lambda topic: metrics.dead_lettered.labels(topic=topic).inc())
    table = bytes_table(app, CUSTOMER_TABLE, topics.partitions,
                        "Customer payments in chunks, one per partition and batch (key partition<US>seq).")
    views = CustomerViews(table)
    progress = bytes_table(app, PROGRESS_TABLE, topics.partitions,
                           "Last transactions offset taken per partition, for GapGuard.")
    store = RiskStore(str(settings.redis_url), settings.redis_prefix)

    async def on_labels(labels: list[FraudLabel]) -> None:
        await scoring.on_labels(labels)  # bound when the feed runs, after `scoring` exists

    feed = LabelFeed(topics.fraud_labels, kafka_client_options(settings), on_labels, dead_letters.reject)
    publisher = Publisher(app, exactly_once=settings.processing_guarantee == "exactly_once",
                          source_topic=topics.transactions)
    scoring = FraudScoring(settings, assessor, views, feed, store, scores, alerts, dead_letters, metrics, drift,
                           publisher)
    guard = GapGuard({topics.transactions}, progress, kafka_client_options(settings))

    @app.task  # type: ignore[untyped-decorator]
    async def follow_labels() -> None:
        await feed.run()

    @app.agent(transactions, name="fraud-scoring")
    async def fraud_scoring_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        await feed.caught_up.wait()  # terminal risk must reflect every label already published
        COLLECTOR_RELIEF.start()  # the histories and labels read so far stay for good
        async for events in ready_batches(stream, fraud.batch_max, fraud.batch_wait_ms / 1000,
                                          fraud.batch_idle_ms / 1000):
            async with batch_before_commit(app):  # exactly_once: outputs and state in one transaction
                messages: list[InputMessage] = []
                for event in events:
                    messages.extend(await guard.collect(event.message))
                await scoring.score_batch(messages)
                last: dict[int, InputMessage] = {}
                for message in messages:
                    last[message.partition] = message
                for message in last.values():
                    guard.mark(message)
                await guard.settle()  # the state commits with these offsets
            yield None

    _follow_rebalances(app, table, views, guard, topics.transactions)

    @app.timer(interval=settings.cycle_seconds, name="fraud-drift")  # type: ignore[untyped-decorator]
    async def check_drift() -> None:
        now = datetime.now(UTC)
        if drift.psi is not None:
            metrics.score_psi.set(drift.psi)
        if drift.alert_precision is not None:
            metrics.alert_precision.set(drift.alert_precision)
        for event in drift.check(now):
            await drift_topic.send(key=event.kind.encode(), value=event.to_bytes())
            metrics.drift_events.labels(kind=event.kind).inc()
            log.warning("drift: %s %.4f past bound %.4f (%s)", event.kind, event.value, event.bound, event.detail)
        await guard.audit_tail(app.consumer)

    return FraudWiring(scoring=scoring, feed=feed, table=table, views=views, drift_topic=drift_topic)


def _follow_rebalances(app: faust.App, table: TableT[bytes, bytes], views: CustomerViews, guard: GapGuard,
                       transactions: str) -> None:
    """Replay owned partitions' histories once the table is recovered; drop revoked ones at once."""

    @table.on_recover
    async def rebuild_views() -> None:
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == transactions}
        views.rebuild(owned)
        COLLECTOR_RELIEF.thaw()  # the replayed histories stay until the next rebalance
        log.info("customer histories replayed after rebalance: %s customer(s) on partitions %s",
                 sum(len(p.histories) for p in views.partitions.values()), sorted(owned))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode's stub wants a sync-or-Awaitable union
    async def forget_revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked: set[TP] = args[0]  # Signal.send(revoked): the partitions this worker gives up
        views.forget({tp.partition for tp in revoked if tp.topic == transactions})
        guard.forget(revoked)
