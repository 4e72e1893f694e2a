"""LabelFeed: every worker reads all of `fraud-labels` into per-terminal label state (a broadcast table).

Transactions are partitioned by customer but any customer can pay at any terminal, so each worker needs
every terminal's labels. A plain consumer without a group reads every partition from the beginning at
start (labels are the source of truth; nothing is committed) and then follows the topic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.kafka.topics import topic_partitions
from engine.fraud.features import DAY, TERMINAL_MEMORY, TerminalLabels
from schemas import DecodeError, FraudLabel, decode

log = logging.getLogger(__name__)

# Labels come days after their payments: a tenth of a second more costs nothing, and fetches of at least 64 KiB
# (about 200 labels) instead of whatever arrived since the last one spare the worker most label fetches.
FETCH_WAIT_MS = 100
FETCH_MIN_BYTES = 65_536

LabelHandler = Callable[[list[FraudLabel]], Awaitable[None]]
RejectHandler = Callable[[Any, DecodeError], Awaitable[None]]


class LabelFeed:
    """Follows the labels topic; `caught_up` is set once everything present at start has been applied."""

    def __init__(self, topic: str, kafka_client_options: dict[str, Any], on_labels: LabelHandler,
                 on_reject: RejectHandler) -> None:
        self.topic = topic
        self.terminals: dict[str, TerminalLabels] = {}
        self.caught_up = asyncio.Event()
        self.applied = 0
        self._consumer_options = kafka_client_options
        self._on_labels = on_labels
        self._on_reject = on_reject
        self._seen: dict[str, float] = {}  # labelled transaction id -> its time, to drop repeated labels
        self._prune_at = 200_000

    async def run(self) -> None:
        """Read forever (cancelled when the worker stops)."""
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                    fetch_max_wait_ms=FETCH_WAIT_MS, fetch_min_bytes=FETCH_MIN_BYTES,
                                    **self._consumer_options)
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            started = time.monotonic()
            while True:
                # 500 at most: applying 5,000 labels at once held the event loop (and the payments) ~100 ms.
                batch = await consumer.getmany(timeout_ms=200, max_records=500)
                applied = [label for records in batch.values() for record in records
                           if (label := await self._take(record)) is not None]
                if applied:
                    try:
                        await self._on_labels(applied)
                    except Exception:  # Redis down or a metric failing must not stop the feed
                        log.exception("follow-up of %s label(s) failed", len(applied))
                if not self.caught_up.is_set() and await self._reached(consumer, ends):
                    self.caught_up.set()
                    log.info("label feed caught up: %s labels, %s terminals in %.1f s", self.applied,
                             len(self.terminals), time.monotonic() - started)
        finally:
            await consumer.stop()

    @staticmethod
    async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return False
        return True

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        partitions = await topic_partitions(consumer, self.topic, wait_s=10)
        if not partitions:
            raise RuntimeError(f"labels topic {self.topic} has no partitions")
        return partitions

    async def _take(self, record: Any) -> FraudLabel | None:
        """Apply one label; None when it was rejected or seen before."""
        try:
            label = decode(FraudLabel, record.value)
        except DecodeError as error:
            await self._on_reject(record, error)
            return None
        tx_time = label.occurred_at.timestamp()
        if label.transaction_id in self._seen:
            return None  # the same verdict delivered twice (or re-sent): counted once
        self._seen[label.transaction_id] = tx_time
        self._forget_old(tx_time)
        self.terminals.setdefault(label.terminal_id, TerminalLabels()).add(label.occurred_at, label.fraud)
        self.applied += 1
        return label

    def _forget_old(self, newest: float) -> None:
        # Labels older than the terminal memory no longer count, so their ids need not be remembered.
        if len(self._seen) > self._prune_at:
            horizon = newest - (TERMINAL_MEMORY + DAY).total_seconds()
            self._seen = {tx: at for tx, at in self._seen.items() if at >= horizon}
            self._prune_at = max(200_000, 2 * len(self._seen))
