"""open_redis: a Redis that accepts connections and never answers makes calls fail, not hang."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.exceptions

from agents.fraud.risk_store import RiskStore
from agents.redis_client import REDIS_TIMEOUT_S, open_redis


@pytest.fixture
async def silent_redis() -> AsyncIterator[str]:
    """The URL of a server on 127.0.0.1 that takes connections and reads, but never replies."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_call_to_a_redis_that_never_answers_raises_a_timeout(silent_redis: str) -> None:
    """The client gives up by itself after REDIS_TIMEOUT_S (the outer wait only bounds the test)."""
    client = open_redis(silent_redis)
    started = asyncio.get_running_loop().time()
    with pytest.raises(redis.exceptions.TimeoutError):
        await asyncio.wait_for(client.get("anything"), timeout=REDIS_TIMEOUT_S * 5)
    assert asyncio.get_running_loop().time() - started < REDIS_TIMEOUT_S * 5
    await client.aclose()


async def test_the_fraud_block_list_read_fails_instead_of_holding_the_scoring_agent(silent_redis: str) -> None:
    """RiskStore.block_lists (awaited by every scoring batch) raises a RedisError the agent logs and skips."""
    store = RiskStore(silent_redis, "test")
    with pytest.raises(redis.exceptions.RedisError):
        await asyncio.wait_for(store.block_lists(), timeout=REDIS_TIMEOUT_S * 5)
    await store.close()
