"""RedisAnswerCache: the live worker's LLM answers by request hash, for repeated requests and for backtests."""

from __future__ import annotations

import redis

from agents.redis_client import REDIS_TIMEOUT_S
from engine.llm.answer_cache import completion_from_json, completion_to_json
from engine.llm.language_model import Completion


class RedisAnswerCache:
    """Keys {prefix}:llm-answer:{hash} (JSON, with a TTL); a blocking client, as LLM calls run in threads."""

    def __init__(self, url: str, prefix: str, ttl_s: int) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S)
        self._prefix = prefix
        self.ttl_s = ttl_s

    def key(self, request_hash: str) -> str:
        return f"{self._prefix}:llm-answer:{request_hash}"

    def get(self, key: str) -> Completion | None:
        raw = self._redis.get(self.key(key))
        if raw is None:
            return None
        assert isinstance(raw, bytes)
        return completion_from_json(raw)[1]

    def put(self, key: str, completion: Completion) -> None:
        # NX: the first answer stays (a rerun of the same request must not change what a backtest replays).
        self._redis.set(self.key(key), completion_to_json(key, completion), ex=self.ttl_s, nx=True)

    def close(self) -> None:
        self._redis.close()
