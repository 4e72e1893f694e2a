"""`engine bench fraud` at a tiny size, on the real Kafka, Redis and worker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from benchmarks.fraud import run_fraud_bench
from tests.benchmarks.test_ingest import _topics
from tests.fraud_factories import DATA
from tests.support import wait_for

LATENCY_FIELDS = ("latency_p50_ms", "latency_p99_ms", "faust_baseline_latency_p50_ms",
                  "faust_baseline_latency_p99_ms")


@pytest.mark.integration
def test_fraud_bench_reports_the_worker_beside_both_faust_baselines(services: None, fraud_model: Path,
                                                                     tmp_path: Path) -> None:
    """Every measured payment is scored by the real worker and copied by the bare Faust agent: throughput and
    latency each come with their Faust baseline from the same run (the floor at the offered rate), ordered
    percentiles, and the run's topics (the baseline's scratch topics too) are deleted at the end."""
    out = tmp_path / "fraud.json"
    assert run_fraud_bench(data=DATA, model=fraud_model, rate=300, out=out, limit=4000) == 0
    result = json.loads(out.read_text())

    assert result["test_transactions"] == 1000  # a --limit run measures the last quarter of its rows
    assert result["faust_baseline_latency_payments"] == 1000  # fewer than 20 s at 300/s: all of them
    assert result["throughput_tx_s"] > 0 and result["faust_baseline_tx_s"] > 0
    assert result["ratio_to_faust_baseline"] == round(result["throughput_tx_s"] / result["faust_baseline_tx_s"], 3)
    assert all(result[name] > 0 for name in LATENCY_FIELDS), result
    assert result["latency_p50_ms"] <= result["latency_p99_ms"] <= result["latency_max_ms"]
    assert (result["faust_baseline_latency_p50_ms"] <= result["faust_baseline_latency_p99_ms"]
            <= result["faust_baseline_latency_max_ms"])
    assert result["achieved_rate_tx_s"] == pytest.approx(300, rel=0.1)
    wait_for(lambda: not [name for name in asyncio.run(_topics()) if name.startswith(result["run_id"])], 30,
             "the run's topics to be deleted")
