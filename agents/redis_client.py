"""The asyncio Redis client every store on an agent's path uses: no call may wait on Redis for ever."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

# Redis answers a healthy call in well under a millisecond; one that hangs (a stalled server, a half-open
# connection) would otherwise hold the agent that awaits it, and with it scoring or the route cycle, until the
# worker is killed. Past this the call raises, and each store's caller logs it and goes on without Redis.
REDIS_TIMEOUT_S = 2.0


def open_redis(url: str, parser_class: type[Any] | None = None) -> aioredis.Redis:
    """A client for url whose connects and calls give up after REDIS_TIMEOUT_S (strings, not bytes);
    parser_class: redis-py's reply parser, its default (hiredis when installed) unless given."""
    options: dict[str, Any] = {} if parser_class is None else {"parser_class": parser_class}
    return aioredis.from_url(url, decode_responses=True, socket_timeout=REDIS_TIMEOUT_S,
                             socket_connect_timeout=REDIS_TIMEOUT_S, **options)
