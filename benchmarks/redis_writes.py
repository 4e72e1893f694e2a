"""`bench redis`: a fraud worker's Redis writes with redis-py's C reply parser (hiredis) against its Python one.

Both are timed in the same run on the same server: the terminal-rate hashes the label feed writes (one HSET
per terminal in a pipeline) and the latest-risk entries the scorer writes (one MSET). Best of `rounds`.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from redis._parsers import _AsyncHiredisParser, _AsyncRESP3Parser
from redis.utils import HIREDIS_AVAILABLE
from rich.console import Console

from agents.cli.errors import UsageError
from agents.fraud.risk_store import RiskStore, TerminalRates
from agents.redis_client import open_redis
from engine.settings import load_settings_with

PARSERS: dict[str, type[Any]] = {"python": _AsyncRESP3Parser, "hiredis": _AsyncHiredisParser}


async def _time_writes(url: str, parser: type[Any], terminals: int, entries: int, rounds: int) -> dict[str, float]:
    prefix = f"bench-redis-{uuid4().hex[:8]}"
    client = open_redis(url, parser)  # the workers' client options, with this reply parser
    store = RiskStore(url, prefix, client=client)
    now = datetime.now(UTC)
    rates = [TerminalRates(f"T{i}", (i % 7) / 100, i % 50, (i % 11) / 100, i % 90, now, now) for i in range(terminals)]
    risk = {store.risk_key("customer", f"C{i}"): json.dumps({"score": 0.1234, "transaction_id": f"tx{i}"}).encode()
            for i in range(entries)}
    best_rates = best_risk = float("inf")
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            await store.write_terminal_rates(rates)
            best_rates = min(best_rates, time.perf_counter() - started)
            started = time.perf_counter()
            await store.write_entries(risk)
            best_risk = min(best_risk, time.perf_counter() - started)
        keys = [store.risk_key("terminal", r.terminal_id) for r in rates] + list(risk)
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start:start + 1000])
    finally:
        await store.close()
    return {"terminal_rate_us": round(best_rates / terminals * 1e6, 2),
            "risk_entry_us": round(best_risk / entries * 1e6, 3)}


def redis_bench(url: str, *, terminals: int, entries: int, rounds: int) -> dict[str, Any]:
    """Per-write microseconds with each reply parser, and hiredis's share of the Python parser's time."""
    if not HIREDIS_AVAILABLE:
        raise UsageError("hiredis is not installed: run scripts/setup.sh (or pip install -c constraints.txt -e .)")
    figures = {name: asyncio.run(_time_writes(url, parser, terminals, entries, rounds))
               for name, parser in PARSERS.items()}
    python, hiredis = figures["python"], figures["hiredis"]
    return {"terminals": terminals, "entries": entries, "rounds": rounds, **figures,
            "terminal_rate_hiredis_over_python": round(hiredis["terminal_rate_us"] / python["terminal_rate_us"], 3),
            "risk_entry_hiredis_over_python": round(hiredis["risk_entry_us"] / python["risk_entry_us"], 3)}


def run_redis_bench(*, terminals: int, entries: int, rounds: int, out: Path | None) -> int:
    """Print (and write) the JSON figures."""
    console = Console()
    summary = redis_bench(str(load_settings_with({}).redis_url), terminals=terminals, entries=entries, rounds=rounds)
    console.print_json(json.dumps(summary))
    if out is not None:
        out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0
