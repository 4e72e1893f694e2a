"""`engine bench redis` at a tiny size, on the real Redis."""

from __future__ import annotations

import pytest
import redis

from benchmarks.redis_writes import redis_bench
from engine.settings import load_settings_with


@pytest.mark.integration
def test_redis_bench_times_both_parsers_and_leaves_no_keys(services: None) -> None:
    """Both reply parsers are timed on the same writes (positive figures, ratios of the two), and the run
    deletes every key it wrote, so repeated runs do not fill the server."""
    url = str(load_settings_with({}).redis_url)
    result = redis_bench(url, terminals=20, entries=30, rounds=2)

    for parser in ("python", "hiredis"):
        assert result[parser]["terminal_rate_us"] > 0 and result[parser]["risk_entry_us"] > 0, result
    assert result["terminal_rate_hiredis_over_python"] == pytest.approx(
        result["hiredis"]["terminal_rate_us"] / result["python"]["terminal_rate_us"], abs=0.001)
    client = redis.Redis.from_url(url)
    try:
        assert not client.keys("bench-redis-*")
    finally:
        client.close()
