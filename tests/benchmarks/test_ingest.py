"""`engine bench ingest` at a tiny size, on the real Kafka, Redis and worker."""

from __future__ import annotations

import asyncio

import pytest
from rich.console import Console

from agents.kafka.topics import admin_client
from benchmarks.ingest import ingest_bench
from engine.settings import load_settings_with
from tests.support import wait_for

SIZE_FIELDS = {"orders", "vehicles", "events_per_s", "faust_baseline_per_s", "ratio", "changelog_bytes_per_event"}


@pytest.mark.integration
def test_ingest_bench_reports_both_fleet_sizes(services: None) -> None:
    """Both fleet sizes are measured through the real agent and the bare Faust agent: the issue's JSON fields,
    every figure positive, each vehicle update costs under 4 KiB of changelog (no whole-fleet records), and the
    run's topics are deleted at the end (kept, a day of runs left thousands of partitions on the broker)."""
    result = ingest_bench(Console(quiet=True), orders=20, vehicles=5, small_orders=5, events=500)

    sizes = result["sizes"]
    assert [(s["orders"], s["vehicles"]) for s in sizes] == [(5, 5), (20, 5)]
    for size in sizes:
        assert set(size) >= SIZE_FIELDS
        assert all(size[name] > 0 for name in SIZE_FIELDS), size
        assert size["changelog_bytes_per_event"] < 4096, size
        assert 0 < size["largest_record_bytes"] < 4096, size
        # Batches write each touched vehicle's record and the fleet's meta record once: never more than two an event.
        assert 0 < size["changelog_records_per_event"] <= 2.0, size
    assert result["rate_large_over_small"] > 0
    wait_for(lambda: not [name for name in asyncio.run(_topics()) if name.startswith(result["run_id"])], 30,
             "the run's topics to be deleted")


async def _topics() -> list[str]:
    admin = admin_client(load_settings_with({}))
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()
