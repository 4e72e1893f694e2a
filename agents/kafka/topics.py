"""Create the engine's topics with the configured partition count; refuse layouts that would split fleets."""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faust.types import TableT

from agents.kafka.app import broker_credentials
from engine.settings import Settings


class TopicLayoutError(RuntimeError):
    """An existing topic has a partition count the engine cannot work with."""


# Keys and values travel as raw bytes: validation against schemas/ happens in the agents, not in Faust.
RAW_BYTES: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


def bytes_table(app: faust.App, name: str, partitions: int, purpose: str) -> TableT[bytes, bytes]:
    """A changelog-backed table of raw bytes: what is written is exactly what recovery reads back."""
    # Faust picks the changelog codec from key_type/value_type: bytes means raw, anything else JSON.
    table: TableT[bytes, bytes] = app.Table(name, partitions=partitions, key_type=bytes, value_type=bytes, help=purpose)
    return table


def keyed_topics(settings: Settings) -> list[str]:
    """Topics keyed by fleet (or customer) whose partition counts must match each other and the tables."""
    t = settings.topics
    return [t.orders, t.vehicles, t.traffic, t.transactions, t.fraud_labels]


def all_topics(settings: Settings) -> list[str]:
    t = settings.topics
    return [*keyed_topics(settings), t.routes, t.decisions, t.fraud_scores, t.fraud_alerts, t.fraud_reviews,
            t.fraud_drift, t.dead_letters]


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Connection options for plain aiokafka clients, with the same security as the Faust app."""
    kafka = settings.kafka
    credentials = broker_credentials(settings)
    options: dict[str, Any] = {"bootstrap_servers": kafka.bootstrap_servers, "request_timeout_ms": 15000}
    if credentials is not None:
        options["security_protocol"] = kafka.security_protocol
        ssl_context = getattr(credentials, "ssl_context", None) or getattr(credentials, "context", None)
        options["ssl_context"] = ssl_context
        if kafka.security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = kafka.sasl_mechanism
            options["sasl_plain_username"] = kafka.sasl_username
            password = kafka.sasl_password
            options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str, wait_s: float = 0.0) -> list[TopicPartition]:
    """The topic's partitions from fresh metadata; [] if it has none after waiting up to wait_s (a new topic)."""
    loop = asyncio.get_running_loop()
    deadline, refreshed = loop.time() + wait_s, False
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        if refreshed:
            if loop.time() >= deadline:
                return []
            await asyncio.sleep(0.25)
        await consumer._client.force_metadata_update()  # the topic may be brand new
        refreshed = True


async def read_whole_topic(client_options: dict[str, Any], topic: str, *, committed_only: bool = False,
                           timeout_s: float = 20.0, expect: int | None = None) -> list[ConsumerRecord[Any, Any]]:
    """Every record now on topic, all partitions, from the beginning, without a consumer group.

    committed_only reads as read_committed; with expect, reading goes on (within timeout_s) until that many
    records have arrived, following the topic's growing end.
    """
    consumer = AIOKafkaConsumer(**client_options, enable_auto_commit=False, group_id=None,
                                isolation_level="read_committed" if committed_only else "read_uncommitted")
    await consumer.start()
    try:
        assigned = await topic_partitions(consumer, topic)
        if not assigned:
            return []
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        records: list[ConsumerRecord[Any, Any]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = all([await consumer.position(tp) >= ends[tp] for tp in assigned])
            if done and (expect is None or len(records) >= expect):
                break
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
            if done:
                ends = await consumer.end_offsets(assigned)
        return records
    finally:
        await consumer.stop()


def admin_client(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**kafka_client_options(settings))


async def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics; raise TopicLayoutError if a keyed topic has the wrong partition count."""
    partitions = settings.topics.partitions
    replication = 1 if len(settings.kafka.bootstrap_servers) == 1 else 3
    admin = admin_client(settings)
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in all_topics(settings) if name not in existing]
        if missing:
            with suppress(TopicAlreadyExistsError):  # another worker created them at the same moment
                await admin.create_topics([NewTopic(name, partitions, replication) for name in missing])
            created = missing
        # Right after creation the metadata may list a topic with no partitions yet: wait for it to settle.
        for _ in range(40):
            described = await admin.describe_topics(keyed_topics(settings))
            if all(d["partitions"] for d in described):
                break
            await asyncio.sleep(0.25)
        wrong = {
            d["topic"]: len(d["partitions"]) for d in described if len(d["partitions"]) != partitions
        }
        if wrong:
            listing = ", ".join(f"{name} has {count}" for name, count in sorted(wrong.items()))
            raise TopicLayoutError(
                f"keyed topics must have ENGINE_TOPICS__PARTITIONS={partitions} partitions: {listing}. "
                "Set ENGINE_TOPICS__PARTITIONS to match, or recreate the topics."
            )
    finally:
        await admin.close()
    return created
