"""A recorded live run, backtested: the same plans and decision records, LLM answers from the live cache."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.llm.answer_store import RedisAnswerCache
from agents.replay.recorder import RecordRequest, record
from engine.replay.backtest import run_backtest
from schemas import DecisionRecord, OrderEvent, RoutePlan
from tests.agents.routes.test_route_cycle import feed, plans, records, start_worker
from tests.support import IsolatedEngine, produce, wait_for

pytestmark = pytest.mark.integration

# Work budgets: every search stops after a fixed amount of work, so the same inputs give the same plan.
LIVE = {"ENGINE_ROUTE__ENABLED": "true", "ENGINE_CYCLE_SECONDS": "5", "ENGINE_ROUTE__BUDGET_MODE": "work",
        "ENGINE_ROUTE__LLM_S": "2.0", "ENGINE_ROUTE__IMPROVE_S": "0.5", "ENGINE_ROUTE__SOLVER_S": "0.5",
        "ENGINE_LLM__N_CTX": "8192"}


def without_timings(decision: DecisionRecord | dict[str, object]) -> dict[str, object]:
    data = decision.model_dump(mode="json") if isinstance(decision, DecisionRecord) else dict(decision)
    data.pop("stage_ms")
    return data


def test_backtest_of_recorded_live_run_gives_the_published_decisions(
    services: None, tmp_path: Path, tiny_granite: tuple[Path, Path]
) -> None:
    """Live worker (tiny Granite, Redis answer cache) -> record its topics -> `backtest --reproduce` with
    answers from that cache and no model: every live decision and published plan comes out identical."""
    engine = IsolatedEngine.create(tmp_path / "state", **LIVE)
    worker = start_worker(engine, tmp_path, tiny_granite[1])
    topics = engine.settings.topics
    try:
        orders = feed(engine, "fleet-r", orders=8)
        wait_for(lambda: len(plans(engine)) >= 3, 90, "three live plans")
        cancel = OrderEvent(event_id="cancel-r", action="cancel", fleet_id="fleet-r", order_id=orders[0].order_id,
                            occurred_at=datetime.now(UTC))
        produce(topics.orders, [(b"fleet-r", cancel.to_bytes())])
        more = feed(engine, "fleet-r", orders=3)  # o0-o2 again: updates with new times
        assert more
        wait_for(lambda: len(plans(engine)) >= 7, 90, "four more live plans")
    finally:
        worker.stop()

    live_records = records(engine)
    live_plans = {plan.plan_id: plan for plan, _ in plans(engine)}
    assert any(r.llm_raw_text is not None for r in live_records), "Granite answered in time at least once"

    log = tmp_path / "live.log.zst"
    recorded = asyncio.run(record(engine.settings, RecordRequest(
        topics=[topics.orders, topics.vehicles, topics.traffic, topics.decisions, topics.routes], out=log),
        show_progress=False))
    assert recorded >= len(live_records) + len(live_plans) + 8 + 3 + 3

    out = tmp_path / "backtest.jsonl"
    cache = RedisAnswerCache(str(engine.settings.redis_url), engine.settings.redis_prefix, 3600)
    run = run_backtest(engine.settings, log, out, cache=cache, ask_model=False, reproduce=True)
    assert run.summary.unreproducible == 0
    assert run.summary.recorded_answers_found == sum(r.llm_raw_text is not None for r in live_records) > 0
    decided = [json.loads(line) for line in out.read_text().splitlines()]
    routes = {(item["fleet_id"], item["cycle_at"]): item for item in decided if item["kind"] == "route"}
    assert len(routes) == len(live_records)
    for live in live_records:
        ours = routes[(live.fleet_id, live.cycle_at.isoformat())]
        assert without_timings(ours["record"]) == without_timings(live), f"decision {live.decision_id} differs"
        if live.published:
            assert RoutePlan.from_bytes(json.dumps(ours["plan"]).encode()) == live_plans[live.decision_id]
        else:
            assert ours["plan"] is None
    assert any(r.cycle_at > cancel.occurred_at + timedelta(seconds=1) for r in live_records)
