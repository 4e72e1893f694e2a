"""The secured stack for tests: a session fixture that starts it, and SASL_SSL Kafka / password Redis clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from aiokafka import AIOKafkaProducer

from agents.kafka.topics import kafka_client_options, read_whole_topic
from devstack.kafka import SecureKafka
from devstack.redis import SecureRedis
from devstack.service import ServiceError
from devstack.stack import all_services, secure_env
from engine.settings import Settings


@dataclass(frozen=True)
class SecureStack:
    """What tests need to reach the secured stack: the worker settings and the two servers."""

    env: dict[str, str]
    kafka: SecureKafka
    redis: SecureRedis


@pytest.fixture(scope="session")
def secure_stack() -> Iterator[SecureStack]:
    """SASL_SSL Kafka on 9094 and password Redis on 6380, started once per session and stopped at its end.

    A stack that was already running before the session (a developer's) is left running.
    """
    services = all_services(secure=True)
    already = all(service.healthy() for service in services)
    for service in services:
        try:
            service.start()
        except ServiceError as error:
            pytest.fail(f"secure stack tests need {service.name}: {error}")
    yield SecureStack(secure_env(), SecureKafka(), SecureRedis())
    if not already:
        for service in reversed(services):
            service.stop()


def secure_redis(stack: SecureStack) -> redis.Redis:
    return redis.Redis.from_url(stack.env["ENGINE_REDIS_URL"], decode_responses=True)


def produce_secure(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """Send (key, value) pairs over SASL_SSL with the settings' credentials and wait for each acknowledgement."""

    async def send() -> None:
        producer = AIOKafkaProducer(**kafka_client_options(settings), acks="all")
        await producer.start()
        try:
            for key, value in messages:
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    asyncio.run(send())


def consume_secure(settings: Settings, topic: str, timeout_s: float = 5.0) -> list[bytes]:
    """Every value now on topic, read over SASL_SSL from the beginning without a consumer group."""
    records = asyncio.run(read_whole_topic(kafka_client_options(settings), topic, timeout_s=timeout_s))
    return [r.value for r in records if r.value is not None]
