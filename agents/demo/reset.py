"""reset_run: delete what a demo run left in Redis (its fleets' plans, next stops and summaries)."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from agents.demo.simulator import MAX_FLEETS, fleet_ids
from engine.settings import Settings

MAX_KEYS_PER_FLEET = 100_000  # a demo fleet has a handful of vans: far more keys means a wrong prefix

WHAT_IS_RESET = ("its fleets' Redis keys {prefix}:fleet:FLEET:* (plan, plan-vehicles, each van's next stops, "
                 "summary) and their entries in the set {prefix}:fleets")
WHAT_IS_KEPT = ("not reset: the run's events on the Kafka topics and its fleets in the worker's table (changelog); "
                "each demo cancels its open orders and takes its vans offline when it stops, so those fleets hold "
                "nothing to plan, and a new run id (the default) never sees them")


@dataclass(frozen=True)
class ResetReport:
    """Which fleets of the run had Redis keys, and how many keys were deleted."""

    fleets: list[str]
    deleted: int


def reset_run(settings: Settings, run_id: str) -> ResetReport:
    """Delete the Redis keys of every fleet a demo with this run id can have used (all MAX_FLEETS names)."""
    prefix = settings.redis_prefix
    client = redis.Redis.from_url(str(settings.redis_url), decode_responses=True, socket_timeout=10)
    found: list[str] = []
    deleted = 0
    try:
        for fleet in fleet_ids(MAX_FLEETS, run_id):
            keys = []
            for key in client.scan_iter(match=f"{prefix}:fleet:{fleet}:*", count=500):
                keys.append(key)
                if len(keys) > MAX_KEYS_PER_FLEET:
                    raise ValueError(f"fleet {fleet} has more than {MAX_KEYS_PER_FLEET:,} Redis keys under "
                                     f"{prefix}: not a demo fleet, nothing deleted for it")
            removed = int(client.srem(f"{prefix}:fleets", fleet))
            if keys:
                deleted += int(client.delete(*keys))
            if keys or removed:
                found.append(fleet)
    finally:
        client.close()
    return ResetReport(found, deleted)
