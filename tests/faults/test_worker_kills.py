"""Workers SIGKILLed at random points while events stream in: nothing lost, nothing doubled, every plan audited."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.chaos import (
    ChaosRun,
    fleet_kills,
    fleet_stream,
    payment_kills,
    plan_figures,
    plans,
    produce,
    route_env,
    wait_until,
    workers_killed,
)

pytestmark = pytest.mark.integration
Record = Callable[[dict[str, Any]], dict[str, Any]]


def test_fleet_events_survive_three_worker_kills(chaos_run: ChaosRun, tiny_granite: tuple[Path, Path],
                                                 record_figures: Record) -> None:
    """1,500-odd events of three fleets while the route worker is SIGKILLed three times: each event is reflected
    exactly once, no cancelled order comes back, every plan on `routes` has its decision record, one owner."""
    figures = record_figures(fleet_kills(chaos_run, model=tiny_granite[1], fleets=3, orders=400, kills=3))
    assert figures["events_sent"] > 1_500
    assert figures["events_lost"] == 0 and figures["events_duplicated"] == 0
    assert figures["orders_wrong"] == 0 and figures["cancelled_orders_resurrected"] == 0
    assert figures["cancelled_orders_in_final_plans"] == 0
    assert figures["plans"] > 0 and figures["plans_without_audit_record"] == 0
    assert figures["plans_duplicated"] == 0 and figures["fleets_with_two_owners"] == 0
    # The restarted worker rejoins its group at once (it left no live member behind after the session timeout).
    assert max(figures["restart_to_first_plan_s"]) < 60


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_payments_survive_worker_kills(chaos_run: ChaosRun, fraud_model: Path, guarantee: str,
                                       record_figures: Record) -> None:
    """3,000 payments while the scoring worker is SIGKILLed twice: none lost; under exactly_once a read_committed
    reader sees each score once; under at-least-once any repeat carries the same transaction id (dedupe key)."""
    figures = record_figures(payment_kills(chaos_run, model_dir=fraud_model, payments=3000, kills=2,
                                           guarantee=guarantee))
    assert figures["events_lost"] == 0 and figures["events_reflected"] == 3000
    assert figures["duplicates_after_dedupe_by_transaction_id"] == 0
    if guarantee == "exactly_once":
        assert figures["events_duplicated"] == 0


def test_graceful_stop_mid_cycle_publishes_that_cycle(chaos_run: ChaosRun, tiny_granite: tuple[Path, Path]) -> None:
    """SIGTERM one second into a cycle (in its LLM window): the worker finishes that cycle, publishes its plan
    with the audit record, and stops without a traceback."""
    cycle_s = 6.0
    chaos_run.env.update(route_env(chaos_run, tiny_granite[1], cycle_s))
    settings = chaos_run.settings
    stream = fleet_stream(settings, "fleet-t", orders=30, vehicles=3, pings=0, cancel_every=1000,
                          now=datetime.now(UTC), rng=random.Random(11))
    worker = chaos_run.worker("worker")
    worker.start()
    produce(settings, stream.messages)
    first = wait_until(lambda: plans(settings), 90, "a first plan")
    latest = max(p.cycle_at for p in first)
    stop_at = latest + timedelta(seconds=cycle_s + 1.0)  # one second into the cycle after the latest one
    time.sleep(max(0.0, (stop_at - datetime.now(UTC)).total_seconds()))
    stopped = datetime.now(UTC)
    assert worker.stop(signal.SIGTERM) == 0
    running = [p for p in plans(settings) if stopped - timedelta(seconds=cycle_s) < p.cycle_at <= stopped]
    assert running, f"the cycle running at {stopped.isoformat()} published no plan"
    assert plan_figures(settings, cycle_s)["plans_without_audit_record"] == 0
    log = worker.log_path.read_text(errors="replace")
    assert "NotReady" not in log and "Traceback" not in log


def test_three_workers_one_killed_keep_one_owner_per_fleet(chaos_run: ChaosRun, tiny_granite: tuple[Path, Path],
                                                           record_figures: Record) -> None:
    """Three route workers share six fleets; one is SIGKILLed and restarted: no fleet ever has two owners, every
    fleet is decided again within the session timeout plus a few cycles, and every plan has its record."""
    figures = record_figures(workers_killed(chaos_run, model=tiny_granite[1], workers=3, fleets=6))
    assert figures["fleets_with_two_owners"] == 0 and figures["plans_duplicated"] == 0
    assert figures["plans_without_audit_record"] == 0
    assert figures["sigkill_takeover_s"] < chaos_run.settings.kafka.session_timeout_s + 3 * 4.0
    assert figures["every_fleet_decided_after_rejoin"] is True
