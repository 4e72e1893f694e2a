"""Broker crash, Redis crash and LLM server crash under a live route worker, each on services of this test only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.chaos import ChaosRun, PrivateStack, broker_restart, llm_server_crash, redis_outage
from tests.support import free_port

pytestmark = pytest.mark.integration
Record = Callable[[dict[str, Any]], dict[str, Any]]


def test_broker_crash_worker_carries_on(chaos_run: ChaosRun, private_stack: PrivateStack,
                                        tiny_granite: tuple[Path, Path], record_figures: Record) -> None:
    """Kafka SIGKILLed for 15 s under a live worker: the same worker process publishes again once the broker is
    back, applies every event sent before and after, and every plan has its audit record."""
    figures = record_figures(broker_restart(chaos_run, private_stack, model=tiny_granite[1], outage_s=15))
    assert figures["worker_survived_without_restart"] is True
    assert figures["events_lost"] == 0 and figures["events_duplicated"] == 0
    assert figures["cancelled_orders_resurrected"] == 0
    assert figures["plans_without_audit_record"] == 0 and figures["fleets_with_two_owners"] == 0
    assert figures["broker_up_to_next_plan_s"] < 60


def test_redis_crash_plans_and_audit_keep_flowing(chaos_run: ChaosRun, private_stack: PrivateStack,
                                                  tiny_granite: tuple[Path, Path], record_figures: Record) -> None:
    """Redis SIGKILLed for 15 s: plans and their decision records keep going to Kafka (Redis is a cache), and
    Redis holds every fleet's plan again within a few cycles of coming back."""
    figures = record_figures(redis_outage(chaos_run, private_stack, model=tiny_granite[1], outage_s=15))
    assert figures["worker_survived_without_restart"] is True
    assert figures["plans_during_outage"] >= 2, "plans must not wait for Redis"
    assert figures["plans_without_audit_record"] == 0
    assert figures["redis_caught_up"] and figures["redis_up_to_plans_cached_s"] < 30


def test_llm_server_crash_never_stops_plans(chaos_run: ChaosRun, tiny_granite: tuple[Path, Path],
                                            record_figures: Record) -> None:
    """llama.cpp's OpenAI-compatible server SIGKILLed for 10 s: every cycle still publishes a checked plan (none
    from the LLM), and the LLM proposes again after the server is back."""
    figures = record_figures(llm_server_crash(chaos_run, model=tiny_granite[1], port=free_port(), down_s=10))
    assert figures["worker_survived_without_restart"] is True
    assert figures["cycles_while_down"] >= 1 and figures["plans_while_down"] == figures["cycles_while_down"]
    assert figures["llm_chosen_while_down"] == 0
    assert figures["plans_without_audit_record"] == 0
