"""GapGuard: re-read input messages that Faust skipped, so no event is lost across restarts.

Measured with faust-streaming 0.15.3 + aiokafka 0.14 on Kafka 4.1: right after a worker restart,
Faust sometimes dropped a run of messages (seen: offsets 40..58 of 60; at 20,000 payments, 650 to 1,440
messages a partition) between "Resuming flow" and the seek to committed offsets. The cause, its recovery's
second flow resume emptying the stream queues, is fixed in agents/kafka/app.py; the guard stays as the
backstop for any other skip. It remembers the last offset taken per input partition (in a changelog-backed
table) and, when an offset jumps, reads the missing range with a plain consumer and returns it ahead of the
message that revealed the gap (collect). The agents apply events idempotently per offset, so reading a message
twice is harmless. For these inputs the worker commits the offset after the last message the guard saw
handled and stored, not Faust's count of acknowledged messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP, TableT

from agents.kafka.table_write import settle_changelog_writes, write_on_partition

log = logging.getLogger(__name__)


class InputMessage(Protocol):
    """The fields an agent reads; both faust.types.Message and aiokafka's ConsumerRecord have them."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class GapGuard:
    """Detects offset gaps per input partition and hands back the missing messages: collect(), mark(), settle()."""

    def __init__(self, topics: set[str], progress_table: TableT[bytes, bytes], client_options: dict[str, Any]) -> None:
        self._topics = topics
        self._progress = progress_table
        self._client_options = client_options
        self._last_seen: dict[tuple[str, int], int] = {}
        self._audited: dict[tuple[str, int], int] = {}
        self._marked: dict[tuple[str, int], int] = {}  # handled; stored once settle() returns
        self._settled: dict[tuple[str, int], int] = {}  # handled and stored: what the worker may commit
        registry = getattr(progress_table.app, "input_progress", None)
        if registry is None:
            raise TypeError("GapGuard needs the app from agents.kafka.app.create_app: it commits the guarded offsets")
        for topic in topics:
            registry[topic] = self._committable_on(topic)

    def _last(self, topic: str, partition: int) -> int | None:
        slot = (topic, partition)
        if slot not in self._last_seen:
            stored = self._progress.get(f"{topic}/{partition}".encode())
            if stored is None:
                return None
            self._last_seen[slot] = int(stored)
        return self._last_seen[slot]

    async def collect(self, message: InputMessage) -> list[InputMessage]:
        """The messages to handle now: those skipped before message on its partition, then message itself.

        Empty when message was already taken. Call mark() on each once it has been handled, then settle()
        (batch callers handle a whole batch first, so a crash in between re-reads it instead of losing it).
        """
        last = self._last(message.topic, message.partition)
        if last is None:
            last = await self._before_first(message)
        records: list[InputMessage] = []
        if last is not None and message.offset > last + 1:
            missing = await self.read_range(message.topic, message.partition, last + 1, message.offset)
            log.warning("input gap on %s[%s]: offsets %s..%s were skipped; replaying %s message(s)",
                        message.topic, message.partition, last + 1, message.offset - 1, len(missing))
            records.extend(missing)
        if last is None or message.offset > last:
            records.append(message)
            self._last_seen[(message.topic, message.partition)] = message.offset  # taken; the table follows mark()
        return records

    async def _before_first(self, message: InputMessage) -> int | None:
        """For a partition with no progress recorded: the offset before its log start if message comes later.

        Nothing taken yet means everything from the log start is still to take (the worker reads from the
        earliest offset). Faust acknowledges the events it skips in a rebalance, and commits them: a worker
        that joined while another was still catching up on labels started 67 and 68 payments into two
        partitions it had never scored (measured, two workers), and no gap showed without a progress entry.
        """
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **self._client_options)
        await consumer.start()
        try:
            tp = TopicPartition(message.topic, message.partition)
            start = (await consumer.beginning_offsets([tp]))[tp]
        finally:
            await consumer.stop()
        if message.offset <= start:
            return None
        log.warning("%s[%s] has no progress recorded but starts at offset %s: taking it from the log start %s",
                    message.topic, message.partition, message.offset, start)
        return int(start) - 1

    def mark(self, message: InputMessage) -> None:
        """Record message as handled in the progress table (what a restarted worker resumes from)."""
        key = f"{message.topic}/{message.partition}".encode()
        stored = self._progress.get(key)
        if stored is None or message.offset > int(stored):
            write_on_partition(self._progress, message.partition, key, str(message.offset).encode())
            self._marked[(message.topic, message.partition)] = message.offset

    async def settle(self) -> None:
        """Wait until the table writes made so far are delivered; the offsets marked so far may then commit.

        Committing an offset before the state it produced is stored would lose that state in a crash.
        """
        await settle_changelog_writes()
        self._settled.update(self._marked)

    def _committable_on(self, topic: str) -> Callable[[int], int | None]:
        def committable(partition: int) -> int | None:
            """The offset after the last message of topic[partition] handled and stored here (None: none yet)."""
            last = self._settled.get((topic, partition))
            return None if last is None else last + 1
        return committable

    def forget(self, revoked: set[TP]) -> None:
        """Drop what this worker knew of revoked partitions: another worker may take them further.

        The last settled offset stays, so Faust's commit on revoke still covers the last batch; an older one
        never commits over a newer one (Faust commits only past its committed offset).
        """
        for tp in revoked:
            slot = (tp.topic, tp.partition)
            self._last_seen.pop(slot, None)
            self._marked.pop(slot, None)
            self._audited.pop(slot, None)

    async def read_range(self, topic: str, partition: int, start: int, end: int) -> list[Any]:
        """Messages with start <= offset < end (fewer where transactions or compaction left holes)."""
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **self._client_options)
        await consumer.start()
        try:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, start)
            records: list[Any] = []
            deadline = asyncio.get_running_loop().time() + 30
            while await consumer.position(tp) < end:
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"could not re-read {topic}[{partition}] {start}..{end - 1} within 30 s")
                batch = await consumer.getmany(tp, timeout_ms=500)
                records.extend(r for r in batch.get(tp, []) if r.offset < end)
            return records
        finally:
            await consumer.stop()

    async def audit_tail(self, consumer: Any) -> None:
        """Called each cycle: a partition stuck behind its high-water mark is re-fetched from its last offset."""
        for tp in consumer.assignment():
            if tp.topic not in self._topics:
                continue
            last = self._last(tp.topic, tp.partition)
            if last is None:
                continue
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # no fetch yet on this partition
                continue
            slot = (tp.topic, tp.partition)
            stalled = self._audited.get(slot) == last
            self._audited[slot] = last
            if highwater is not None and last + 1 < highwater and stalled:
                log.warning("%s[%s] stalled at offset %s below high-water %s; seeking back",
                            tp.topic, tp.partition, last, highwater)
                await consumer.seek(TP(tp.topic, tp.partition), last + 1)
