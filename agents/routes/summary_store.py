"""SummaryStore: the Redis adapter that apps read fleet summaries from in O(1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from agents.redis_client import open_redis
from engine.routes.state import FleetSummary


class SummaryStore:
    """Per-fleet summaries in Redis hashes: {prefix}:fleet:{id}:summary, and the set {prefix}:fleets."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis: aioredis.Redis = open_redis(url)
        self._prefix = prefix

    def summary_key(self, fleet_id: str) -> str:
        return f"{self._prefix}:fleet:{fleet_id}:summary"

    @property
    def fleets_key(self) -> str:
        return f"{self._prefix}:fleets"

    async def write(self, summary: FleetSummary) -> None:
        """Replace the fleet's summary atomically."""
        fields: dict[Any, str] = {  # redis-py types hash keys as a union that dict[str, ...] does not match
            name: ("" if value is None else value.isoformat() if isinstance(value, datetime) else str(value))
            for name, value in summary.model_dump().items()
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.summary_key(summary.fleet_id), mapping=fields)
            pipe.sadd(self.fleets_key, summary.fleet_id)
            await pipe.execute()

    async def read(self, fleet_id: str) -> dict[str, str]:
        """The stored summary fields (empty when the fleet is unknown)."""
        result = await self._redis.hgetall(self.summary_key(fleet_id))
        return {str(k): str(v) for k, v in result.items()}

    async def close(self) -> None:
        await self._redis.aclose()
