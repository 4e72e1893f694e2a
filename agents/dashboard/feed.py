"""BoardFeed: a plain consumer without a group that follows the page's topics from their recent end into a Board.

Without a group every worker reads every partition, so each worker's page shows all fleets whatever
partitions its agents own; nothing is committed. Plans carry no coordinates, so the orders and vehicles
topics are read too (from further back) for the positions of the stops and vehicles.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from agents.dashboard.board import Board
from agents.kafka.topics import kafka_client_options, topic_partitions
from engine.settings import Settings

log = logging.getLogger(__name__)

BATCH_RECORDS = 2000  # per poll: a few ms of decoding, so the worker's loop is never held long
RETRY_S = 5.0


def lookback(settings: Settings) -> dict[str, int]:
    """Records read back per partition at start: enough for the newest plan, decisions, alerts and positions."""
    t = settings.topics
    return {t.routes: 200, t.decisions: 200, t.fraud_alerts: 100, t.fraud_reviews: 100, t.orders: 20_000,
            t.vehicles: 2_000}


async def assign_recent(consumer: AIOKafkaConsumer, depth: dict[str, int], wait_s: float = 10.0
                        ) -> dict[TopicPartition, int]:
    """Assign every partition of the topics, each at `depth` records before its end; returns the end offsets."""
    partitions = [tp for topic in depth for tp in await topic_partitions(consumer, topic, wait_s=wait_s)]
    if not partitions:
        return {}
    consumer.assign(partitions)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    begins: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
    for tp in partitions:
        consumer.seek(tp, max(begins[tp], ends[tp] - depth[tp.topic]))
    return ends


class BoardFeed:
    """Follows the topics into the board until cancelled; a broker outage is retried, not fatal to the worker."""

    def __init__(self, settings: Settings, board: Board) -> None:
        self.settings = settings
        self.board = board
        self.caught_up = asyncio.Event()
        self.records = 0

    async def run(self) -> None:
        """Read forever (cancelled when the worker stops); the page only shows less while Kafka is away."""
        while True:
            try:
                await self._follow()
            except (KafkaError, OSError) as error:
                log.warning("dispatch page feed: %r; retrying in %.0f s", error, RETRY_S)
            await asyncio.sleep(RETRY_S)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **kafka_client_options(self.settings))
        await consumer.start()
        try:
            ends = await assign_recent(consumer, lookback(self.settings))
            if not ends:
                raise OSError("none of the page's topics has partitions yet")
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=BATCH_RECORDS)
                for tp, records in batch.items():
                    for record in records:
                        self.board.take(tp.topic, record.value)
                    self.records += len(records)
                if not self.caught_up.is_set() and await _reached(consumer, ends):
                    self.caught_up.set()
                    log.info("dispatch page feed caught up: %s record(s), %s fleet(s)", self.records,
                             len(self.board.fleets))
                await asyncio.sleep(0)  # let the agents run between batches while catching up
        finally:
            await consumer.stop()


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def read_board(settings: Settings, fleet_id: str | None = None, timeout_s: float = 15.0) -> Board:
    """A board read once from the topics' recent records (for commands): only `fleet_id`'s when given."""
    board = Board(settings.topics)
    key = None if fleet_id is None else fleet_id.encode()
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **kafka_client_options(settings))
    await consumer.start()
    try:
        ends = await assign_recent(consumer, lookback(settings), wait_s=0.0)
        pending = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
        deadline = asyncio.get_running_loop().time() + timeout_s
        while pending and asyncio.get_running_loop().time() < deadline:
            batch: dict[Any, list[Any]] = await consumer.getmany(*pending, timeout_ms=500,
                                                                 max_records=BATCH_RECORDS)
            for tp, records in batch.items():
                for record in records:
                    if key is None or record.key == key:
                        board.take(tp.topic, record.value)
                    if record.offset >= ends[tp] - 1:
                        pending.discard(tp)
    finally:
        await consumer.stop()
    return board
