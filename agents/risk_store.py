"""RiskStore: the Redis adapter for fraud — latest risk per customer and terminal, and the block lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import redis.asyncio as aioredis

from engine.fraud.risk_assessor import BlockLists
from schemas import FraudScore

BlockKind = Literal["customer", "terminal"]


class RiskStore:
    """Hashes {prefix}:fraud:customer:{id} and {prefix}:fraud:terminal:{id} (one HGETALL to authorise),
    and sets {prefix}:fraud:blocklist:customer / :terminal."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis: aioredis.Redis = aioredis.from_url(url, decode_responses=True)
        self._prefix = prefix

    def risk_key(self, kind: BlockKind, entity_id: str) -> str:
        return f"{self._prefix}:fraud:{kind}:{entity_id}"

    def blocklist_key(self, kind: BlockKind) -> str:
        return f"{self._prefix}:fraud:blocklist:{kind}"

    async def write_scores(self, scores: list[FraudScore]) -> None:
        """The newest score per customer and per terminal, in one round trip (later events win)."""
        if not scores:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for s in scores:
                latest: dict[Any, str] = {
                    "score": f"{s.score:.6f}", "alert": "1" if s.alert else "0", "transaction_id": s.transaction_id,
                    "occurred_at": s.occurred_at.isoformat(), "scored_at": s.scored_at.isoformat(),
                    "model_version": s.model_version,
                    "reasons": "; ".join(r.text for r in s.reasons[:3]),
                }
                pipe.hset(self.risk_key("customer", s.customer_id), mapping=latest)
                pipe.hset(self.risk_key("terminal", s.terminal_id), mapping={
                    "last_score": latest["score"], "last_transaction_id": s.transaction_id,
                    "last_scored_at": latest["scored_at"],
                })
            await pipe.execute()

    async def write_terminal_labels(self, terminal_id: str, *, fraud_rate_7d: float, labelled_7d: int,
                                    fraud_rate_30d: float, labelled_30d: int, updated_at: datetime) -> None:
        """The terminal's confirmed-fraud rates from the labels that have arrived."""
        await self._redis.hset(self.risk_key("terminal", terminal_id), mapping={
            "confirmed_fraud_rate_7d": f"{fraud_rate_7d:.4f}", "labelled_7d": str(labelled_7d),
            "confirmed_fraud_rate_30d": f"{fraud_rate_30d:.4f}", "labelled_30d": str(labelled_30d),
            "labels_updated_at": updated_at.isoformat(),
        })

    async def read(self, kind: BlockKind, entity_id: str) -> dict[str, str]:
        """The stored risk fields (empty when unknown)."""
        result = await self._redis.hgetall(self.risk_key(kind, entity_id))
        return {str(k): str(v) for k, v in result.items()}

    async def block_lists(self) -> BlockLists:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.smembers(self.blocklist_key("customer"))
            pipe.smembers(self.blocklist_key("terminal"))
            customers, terminals = await pipe.execute()
        return BlockLists(customers=frozenset(map(str, customers)), terminals=frozenset(map(str, terminals)))

    async def block(self, kind: BlockKind, entity_id: str) -> None:
        await self._redis.sadd(self.blocklist_key(kind), entity_id)

    async def unblock(self, kind: BlockKind, entity_id: str) -> None:
        await self._redis.srem(self.blocklist_key(kind), entity_id)

    async def close(self) -> None:
        await self._redis.aclose()
