"""last_published_plan: a fleet's newest plan read back from the routes topic, for when Redis has none."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer

from agents.kafka.topics import kafka_client_options, topic_partitions
from engine.settings import Settings
from schemas import RoutePlan

LOOKBACK = 500  # records per routes partition: a fleet publishes one plan per cycle
READ_TIMEOUT_S = 10.0


async def last_published_plan(settings: Settings, fleet_id: str) -> RoutePlan | None:
    """The fleet's newest RoutePlan among the last LOOKBACK records of each routes partition (None: none there)."""
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **kafka_client_options(settings))
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, settings.topics.routes)
        if not partitions:
            return None
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        begins = await consumer.beginning_offsets(partitions)
        pending = set()
        for tp in partitions:
            start = max(begins[tp], ends[tp] - LOOKBACK)
            consumer.seek(tp, start)
            if ends[tp] > start:
                pending.add(tp)
        key, newest = fleet_id.encode(), None
        deadline = asyncio.get_running_loop().time() + READ_TIMEOUT_S
        while pending and asyncio.get_running_loop().time() < deadline:
            for tp, records in (await consumer.getmany(*pending, timeout_ms=500)).items():
                for record in records:
                    if record.key == key and record.value:
                        plan = RoutePlan.from_bytes(record.value)
                        if newest is None or plan.cycle_at > newest.cycle_at:
                            newest = plan
                    if record.offset >= ends[tp] - 1:
                        pending.discard(tp)
        return newest
    finally:
        await consumer.stop()
