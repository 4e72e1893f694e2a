"""A recorded live run, backtested: the same plans and decision records, LLM answers from the live cache."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agents.llm.answer_store import RedisAnswerCache
from agents.replay.recorder import RecordRequest, record
from engine.replay.backtest import Backtest, BacktestRun, run_backtest
from engine.replay.event_log import EventLogReader, EventLogWriter
from engine.settings import Settings
from schemas import DecisionRecord, OrderEvent, RoutePlan, TrafficEvent
from tests.agents.routes.test_route_cycle import CENTRE, feed, plans, records, start_worker
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


def assert_reproduced(engine: IsolatedEngine, log: Path, out: Path, live_records: list[DecisionRecord],
                      live_plans: dict[str, RoutePlan]) -> BacktestRun:
    """Backtest `log` with --reproduce: every live decision (timings aside) and plan comes back, nothing else."""
    cache = RedisAnswerCache(str(engine.settings.redis_url), engine.settings.redis_prefix, 3600)
    run = run_backtest(engine.settings, log, out, cache=cache, ask_model=False, reproduce=True)
    assert run.summary.unreproducible == 0
    assert run.summary.recorded_answers_found == sum(r.llm_raw_text is not None for r in live_records)
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
    return run


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

    run = assert_reproduced(engine, log, tmp_path / "backtest.jsonl", live_records, live_plans)
    assert run.summary.recorded_answers_found > 0
    assert any(r.cycle_at > cancel.occurred_at + timedelta(seconds=1) for r in live_records)


def route_lines(settings: Settings, log: Path, lookahead: int | None = None) -> list[dict[str, Any]]:
    """The route decisions of an event-time backtest of log (no LLM), as the decision file's lines."""
    out: list[dict[str, Any]] = []
    backtest = Backtest(settings, out.append) if lookahead is None else Backtest(settings, out.append,
                                                                                 lookahead=lookahead)
    summary = backtest.run(EventLogReader(log))
    out.append({"kind": "late", "late_records": summary.late_records})
    return out


def test_recording_of_three_live_fleets_backtests_true(
    services: None, tmp_path: Path, tiny_granite: tuple[Path, Path]
) -> None:
    """A live worker deciding three fleets (orders, vehicles, a traffic jam, a cancel) recorded with `record`
    (orders, vehicles, traffic, decisions): `backtest --reproduce` gives every live decision back (timings aside),
    and the event-time backtest decides the three fleets alike, with no record out of time order; the same
    records written partition by partition (how `record` wrote them before) backtest identically."""
    engine = IsolatedEngine.create(tmp_path / "state", **LIVE)
    topics = engine.settings.topics
    fleets = ["fleet-1", "fleet-2", "fleet-3"]
    worker = start_worker(engine, tmp_path, tiny_granite[1])
    try:
        orders = {fleet: feed(engine, fleet, orders=5) for fleet in fleets}
        wait_for(lambda: {r.fleet_id for r in records(engine)} >= set(fleets), 90, "a decision for every fleet")
        jam_at = datetime.now(UTC)
        jam = TrafficEvent.model_validate({
            "event_id": "jam-2", "fleet_id": "fleet-2", "occurred_at": jam_at,
            "area": {"kind": "circle", "center": {"lat": CENTRE[0], "lon": CENTRE[1]}, "radius_m": 20_000},
            "speed_factor": 0.3, "valid_from": jam_at, "valid_until": jam_at + timedelta(hours=1)}, strict=False)
        produce(topics.traffic, [(b"fleet-2", jam.to_bytes())])
        cancel = OrderEvent(event_id="cancel-3", action="cancel", fleet_id="fleet-3",
                            order_id=orders["fleet-3"][0].order_id, occurred_at=datetime.now(UTC))
        produce(topics.orders, [(b"fleet-3", cancel.to_bytes())])
        after = jam_at + timedelta(seconds=1)
        wait_for(lambda: all(sum(r.fleet_id == f and r.cycle_at > after for r in records(engine)) >= 2
                             for f in fleets), 120, "two more decisions per fleet after the jam and the cancel")
    finally:
        worker.stop()

    live_records = records(engine)
    live_plans = {plan.plan_id: plan for plan, _ in plans(engine)}
    assert {r.fleet_id for r in live_records} == set(fleets)
    log = tmp_path / "live.log.zst"
    recorded = asyncio.run(record(engine.settings, RecordRequest(
        topics=[topics.orders, topics.vehicles, topics.traffic, topics.decisions], out=log), show_progress=False))
    assert recorded == 3 * (3 + 5) + 2 + len(live_records)
    in_file = list(EventLogReader(log))
    assert [r.timestamp_ms for r in in_file] == sorted(r.timestamp_ms for r in in_file), "written merged by time"

    assert_reproduced(engine, log, tmp_path / "reproduced.jsonl", live_records, live_plans)
    assert any(r.fleet_id == "fleet-2" and r.cycle_at > after and any(k.startswith(topics.traffic)
                                                                       for k in r.input_offsets)
               for r in live_records), "a reproduced decision saw the jam"

    # Event time: the same decisions for every fleet, whatever order the file holds the partitions in.
    merged = route_lines(engine.settings, log)
    per_fleet = Counter(item["fleet_id"] for item in merged if item["kind"] == "route")
    assert set(per_fleet) == set(fleets) and max(per_fleet.values()) - min(per_fleet.values()) <= 1, per_fleet
    assert merged[-1]["late_records"] == 0
    blocks = tmp_path / "blocks.log.zst"  # each topic-partition as one block, in a scrambled partition order
    with EventLogWriter(blocks) as writer:
        for item in sorted(in_file, key=lambda r: (r.topic != topics.decisions, r.topic, -r.partition, r.offset)):
            writer.append(item)
    assert route_lines(engine.settings, blocks) == merged
    file_order = route_lines(engine.settings, blocks, lookahead=0)  # what the backtest did before the merge
    print("decisions per fleet, merged:", dict(per_fleet), "file order:",
          dict(Counter(item["fleet_id"] for item in file_order if item["kind"] == "route")),
          "late records in file order:", file_order[-1]["late_records"])
