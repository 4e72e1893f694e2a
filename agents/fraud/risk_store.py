"""RiskStore: the Redis adapter for fraud — latest risk per customer and terminal, and the block lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import redis.asyncio as aioredis
from pydantic_core import from_json, to_json

from agents.redis_client import open_redis
from engine.fraud.risk_assessor import BlockLists
from schemas import FraudScore

BlockKind = Literal["customer", "terminal"]


@dataclass(frozen=True)
class TerminalRates:
    """A terminal's share of confirmed fraud over the 7 and 30 days up to its newest labelled payment."""

    terminal_id: str
    fraud_rate_7d: float
    labelled_7d: int
    fraud_rate_30d: float
    labelled_30d: int
    labels_up_to: datetime
    updated_at: datetime


class RiskStore:
    """What an authoriser reads in O(1): {prefix}:fraud:customer:{id} (JSON of the latest score),
    {prefix}:fraud:terminal:{id} (hash of confirmed-fraud rates) and {prefix}:fraud:terminal:{id}:last
    (JSON of its latest score); block lists are the sets {prefix}:fraud:blocklist:customer / :terminal."""

    def __init__(self, url: str, prefix: str, client: aioredis.Redis | None = None) -> None:
        self._redis: aioredis.Redis = client if client is not None else open_redis(url)
        self._prefix = prefix

    def risk_key(self, kind: BlockKind, entity_id: str) -> str:
        return f"{self._prefix}:fraud:{kind}:{entity_id}"

    def blocklist_key(self, kind: BlockKind) -> str:
        return f"{self._prefix}:fraud:blocklist:{kind}"

    def last_score_key(self, terminal_id: str) -> str:
        return f"{self._prefix}:fraud:terminal:{terminal_id}:last"

    async def write_scores(self, scores: list[FraudScore]) -> None:
        """The newest score per customer and per terminal as JSON strings, in one MSET (later events win)."""
        await self.write_entries(self.score_entries(scores))

    async def write_entries(self, entries: dict[str, bytes]) -> None:
        """Entries from score_entries (of one or several batches, merged in order) in one MSET."""
        if entries:
            await self._redis.mset(entries)

    def score_entries(self, scores: list[FraudScore]) -> dict[str, bytes]:
        """{key: JSON} of the newest score per customer and per terminal (later events win)."""
        latest: dict[str, bytes] = {}
        scored_at: dict[datetime, str] = {}  # a batch shares one scoring time: written out once
        for s in reversed(scores):  # newest first: an older score of a customer and terminal both seen is skipped
            customer, terminal = self.risk_key("customer", s.customer_id), self.last_score_key(s.terminal_id)
            if customer in latest and terminal in latest:
                continue
            at = scored_at.get(s.scored_at)
            if at is None:
                at = scored_at[s.scored_at] = s.scored_at.isoformat()
            entry = to_json({
                "score": s.score, "alert": s.alert, "transaction_id": s.transaction_id,
                "occurred_at": s.occurred_at.isoformat(), "scored_at": at,
                "model_version": s.model_version, "reasons": [r.text for r in s.reasons[:3]],
            })
            latest.setdefault(customer, entry)
            latest.setdefault(terminal, entry)
        return latest

    async def customer_risk(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's latest score (one GET), or None."""
        raw = await self._redis.get(self.risk_key("customer", customer_id))
        return None if raw is None else dict(from_json(raw))

    async def terminal_risk(self, terminal_id: str) -> dict[str, Any]:
        """The terminal's confirmed-fraud rates and its latest score (two O(1) reads in one round trip)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.risk_key("terminal", terminal_id))
            pipe.get(self.last_score_key(terminal_id))
            rates, last = await pipe.execute()
        return {**{str(k): str(v) for k, v in rates.items()}, "last": None if last is None else from_json(last)}

    async def write_terminal_rates(self, rates: list[TerminalRates]) -> None:
        """Each terminal's confirmed-fraud rates from the labels that have arrived, in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for r in rates:
                # HSET with its field-value pairs as they go on the wire: hset(mapping=) re-walks a dict per call.
                pipe.execute_command(
                    "HSET", self.risk_key("terminal", r.terminal_id),
                    "confirmed_fraud_rate_7d", f"{r.fraud_rate_7d:.4f}", "labelled_7d", str(r.labelled_7d),
                    "confirmed_fraud_rate_30d", f"{r.fraud_rate_30d:.4f}", "labelled_30d", str(r.labelled_30d),
                    "labels_up_to", r.labels_up_to.isoformat(),
                    "labels_updated_at", r.updated_at.isoformat())
            await pipe.execute()

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
