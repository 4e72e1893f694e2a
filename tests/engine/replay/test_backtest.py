"""Backtest: the decision core offline on event time — deterministic, fed by the log alone, nothing lost."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.fraud.handbook import read_handbook, replay_features
from engine.fraud.risk_assessor import BlockLists, RiskAssessor
from engine.fraud.scorer import FraudScorer
from engine.replay.backtest import Backtest, MissingTopicError, run_backtest
from engine.replay.datasets import fraud_log
from engine.replay.event_log import LOOKAHEAD, EventLogReader, EventLogWriter, LogRecord
from engine.settings import load_settings_with
from schemas import DecisionRecord, GeoPoint, OrderEvent, TimeWindow, VehicleEvent
from tests.engine.replay.conftest import SampleRuns
from tests.fraud_factories import DATA as HANDBOOK

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_backtest_run_twice_gives_identical_bytes(sample_runs: SampleRuns) -> None:
    """Same log, config and answer cache: the two decision files are byte for byte equal."""
    assert sample_runs.first.read_bytes() == sample_runs.second.read_bytes()


def test_sample_backtest_needs_no_model_and_decides_every_cycle(sample_runs: SampleRuns) -> None:
    """The shipped sample's answers are all cached; every event-time cycle (15 s) decides and publishes a plan."""
    run = sample_runs.first_run
    assert run.llm_misses == 0 and run.llm_hits == run.summary.route_decisions > 100
    routes = [item for item in lines(sample_runs.first) if item["kind"] == "route"]
    times = [datetime.fromisoformat(r["cycle_at"]) for r in routes]
    assert all(b - a == timedelta(seconds=15) for a, b in itertools.pairwise(times))
    assert all(r["plan"] is not None and r["plan"]["checked"] for r in routes)
    assert all(r["record"]["prompt_hash"] for r in routes), "the LLM proposal is in every decision"
    assert any(r["plan"]["routes"] for r in routes), "some orders were planned"


def record(topic: str, offset: int, at: datetime, key: str | None, value: bytes) -> LogRecord:
    return LogRecord(topic, 0, offset, int(at.timestamp() * 1000), None if key is None else key.encode(), value)


def small_fleet_log(path: Path) -> Path:
    """One van, three orders, a bad JSON message and an order keyed to the wrong fleet."""
    shift = TimeWindow(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=8))
    van = VehicleEvent(event_id="v", fleet_id="f", vehicle_id="van", occurred_at=T0,
                       position=GeoPoint(lat=53.40, lon=-2.99), capacity=10, shift=shift)
    orders = [OrderEvent(event_id=f"o{i}", action="create", fleet_id="f", order_id=f"o{i}",
                         occurred_at=T0 + timedelta(seconds=10 * i), location=GeoPoint(lat=53.40 + 0.01 * i, lon=-2.98),
                         demand=1, time_window=TimeWindow(start=T0, end=T0 + timedelta(hours=2)))
              for i in range(1, 4)]
    with EventLogWriter(path) as writer:
        writer.append(record("vehicles", 0, T0, "f", van.to_bytes()))
        for i, order in enumerate(orders):
            writer.append(record("orders", i, order.occurred_at, "f", order.to_bytes()))
        writer.append(record("orders", 3, T0 + timedelta(seconds=40), "f", b"{not json"))
        writer.append(record("orders", 4, T0 + timedelta(seconds=50), "g", orders[0].to_bytes()))
    return path


def test_bad_messages_become_dead_letters_and_the_rest_is_decided(tmp_path: Path) -> None:
    """Bad JSON and a key/fleet mismatch are reported with topic and offset; the valid orders are all planned."""
    out: list[dict[str, Any]] = []
    summary = Backtest(load_settings_with({}), out.append).run(EventLogReader(small_fleet_log(tmp_path / "l.zst")))
    dead = [item for item in out if item["kind"] == "dead_letter"]
    assert [(d["topic"], d["offset"]) for d in dead] == [("orders", 3), ("orders", 4)]
    assert "key_mismatch" in dead[1]["error"] or "must equal" in dead[1]["error"]
    assert summary.events == 6 and summary.dead_letters == 2
    last = [item for item in out if item["kind"] == "route"][-1]
    served = {stop["order_id"] for route in last["plan"]["routes"] for stop in route["stops"]}
    assert served == {"o1", "o2", "o3"}
    assert last["record"]["input_offsets"] == {"vehicles/0": 0, "orders/0": 2}


def test_fraud_backtest_scores_like_the_offline_replay(tmp_path: Path, fraud_model: Path) -> None:
    """Handbook payments + 7-day-late labels as a log: each payment scored once, with the model score the
    training-time feature replay gives, and PR-AUC over the labels in the log."""
    rows = read_handbook(HANDBOOK, limit=12_000)
    log = tmp_path / "payments.log.zst"
    last_day = rows[-1].day - 1  # whole days only
    fraud_log(HANDBOOK, log, first_day=0, last_day=last_day)
    settings = load_settings_with({"ENGINE_FRAUD__MODEL_DIR": str(fraud_model)})
    run = run_backtest(settings, log, tmp_path / "out.jsonl", cache=None, ask_model=False)
    scores = {item["score"]["transaction_id"]: item["score"]
              for item in lines(tmp_path / "out.jsonl") if item["kind"] == "fraud_score"}
    kept = [row for row in rows if row.day <= last_day]
    assert run.summary.transactions_scored == len(scores) == len(kept)
    scorer = FraudScorer.load(fraud_model)
    assessor = RiskAssessor(scorer, alert_threshold=0.5, max_amount=10_000)
    sample = list(replay_features(kept))[::97]
    offline = assessor.assess([(row.tx, features) for row, features in sample], BlockLists(), T0)
    expected = {row.tx.transaction_id: s.model_score for (row, _), s in zip(sample, offline, strict=True)}
    assert all(scores[tx_id]["model_score"] == pytest.approx(score, abs=1e-6) for tx_id, score in expected.items())
    metrics = run.summary.fraud_metrics
    assert metrics["labelled"] == len(kept) and metrics["frauds"] > 0 and 0 < metrics["pr_auc"] <= 1


def test_reproduce_decides_on_exactly_the_recorded_inputs(tmp_path: Path) -> None:
    """--reproduce rebuilds each recorded decision's state up to its input offsets (later orders unseen), and
    reports a record without offsets as unreproducible instead of guessing its inputs."""
    log = small_fleet_log(tmp_path / "l.zst")
    at = T0 + timedelta(minutes=5)
    seen_one = DecisionRecord(decision_id="f@a", fleet_id="f", cycle_at=at, inputs_digest="x", published=True,
                              input_offsets={"vehicles/0": 0, "orders/0": 0})
    legacy = seen_one.model_copy(update={"decision_id": "f@b", "cycle_at": at + timedelta(seconds=5),
                                         "input_offsets": {}})
    with_decisions = tmp_path / "with-decisions.zst"
    with EventLogWriter(with_decisions) as writer:
        for item in EventLogReader(log):
            writer.append(item)
        writer.append(record("decisions", 0, at, "f", seen_one.to_bytes()))
        writer.append(record("decisions", 1, at, "f", legacy.to_bytes()))
    out: list[dict[str, Any]] = []
    summary = Backtest(load_settings_with({}), out.append, reproduce=True).run(EventLogReader(with_decisions))
    [route] = [item for item in out if item["kind"] == "route"]
    assert route["cycle_at"] == at.isoformat() and route["record"]["input_offsets"] == seen_one.input_offsets
    planned = {stop["order_id"] for r in route["plan"]["routes"] for stop in r["stops"]}
    assert planned == {"o1"}, "only the first order had been applied when the live cycle ran"
    assert [item["decision_id"] for item in out if item["kind"] == "unreproducible"] == ["f@b"]
    assert summary.unreproducible == 1


def three_fleet_records() -> list[LogRecord]:
    """Three fleets, each on its own partition: a van at the start, then an order every 20 s for two minutes."""
    shift = TimeWindow(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=8))
    out = []
    for number in range(3):
        fleet = f"fleet-{number + 1}"
        van = VehicleEvent(event_id=f"{fleet}-v", fleet_id=fleet, vehicle_id="van", occurred_at=T0,
                           position=GeoPoint(lat=53.40, lon=-2.99), capacity=10, shift=shift)
        at = T0 + timedelta(milliseconds=number)
        out.append(LogRecord("vehicles", number, 0, int(at.timestamp() * 1000), fleet.encode(), van.to_bytes()))
        for i in range(6):
            at = T0 + timedelta(seconds=20 * i + 1, milliseconds=number)
            order = OrderEvent(event_id=f"{fleet}-o{i}", action="create", fleet_id=fleet, order_id=f"o{i}",
                               occurred_at=at, location=GeoPoint(lat=53.40 + 0.003 * i, lon=-2.98), demand=1,
                               time_window=TimeWindow(start=T0, end=T0 + timedelta(hours=2)))
            out.append(LogRecord("orders", number, i, int(at.timestamp() * 1000), fleet.encode(), order.to_bytes()))
    return out


def test_backtest_reads_a_block_ordered_log_in_time_order() -> None:
    """A log holding each topic-partition as one block (how `record` wrote it before) decides exactly like the
    same records in time order: every fleet in every cycle. Read in file order instead (no lookahead), the fleets
    miss their cycles and the records that came too late are counted."""
    records = three_fleet_records()
    in_time = sorted(records, key=lambda r: r.timestamp_ms)
    in_blocks = sorted(records, key=lambda r: (r.topic, -r.partition, r.offset))

    def decide_all(log: list[LogRecord], lookahead: int | None = None) -> tuple[list[dict[str, Any]], int]:
        out: list[dict[str, Any]] = []
        summary = Backtest(load_settings_with({}), out.append,
                           lookahead=LOOKAHEAD if lookahead is None else lookahead).run(log)
        return [item for item in out if item["kind"] == "route"], summary.late_records

    reference, late = decide_all(in_time)
    assert late == 0
    counts = Counter(item["fleet_id"] for item in reference)
    assert set(counts.values()) == {7} and len(counts) == 3, counts  # cycles at 15 s .. 90 s and after the last
    assert decide_all(in_blocks) == (reference, 0)
    unmerged, late = decide_all(in_blocks, lookahead=0)  # the orders block ran the clock past the vans
    assert Counter(item["fleet_id"] for item in unmerged) == dict.fromkeys(counts, 1)
    assert late == 5 + 5 + 3  # the orders of fleets 2 and 1 before the 90 s cycle, and the three vans


def live_decision(fleet: str, at: datetime, offsets: dict[str, int], **extra: Any) -> DecisionRecord:
    return DecisionRecord(decision_id=f"{fleet}@{at.isoformat()}", fleet_id=fleet, cycle_at=at, inputs_digest="x",
                          published=True, input_offsets=offsets, **extra)


def with_decisions(path: Path, records: list[LogRecord], decisions: list[DecisionRecord]) -> Path:
    with EventLogWriter(path) as writer:
        for item in records:
            writer.append(item)
        for offset, decision in enumerate(decisions):
            writer.append(record("decisions", offset, decision.cycle_at, decision.fleet_id, decision.to_bytes()))
    return path


def test_reproduce_refuses_a_log_missing_a_needed_topic(tmp_path: Path) -> None:
    """--reproduce without the decisions topic, or with a decision whose traffic input is not in the log, is an
    error naming the topic (nothing decided); a log of topics the backtest does not read is refused too."""
    inputs = three_fleet_records()
    at = T0 + timedelta(minutes=3)
    settings = load_settings_with({})
    out: list[dict[str, Any]] = []
    with pytest.raises(MissingTopicError, match="no records of topic decisions"):
        Backtest(settings, out.append, reproduce=True).run(inputs)
    needs_traffic = live_decision("fleet-1", at, {"vehicles/0": 0, "orders/0": 5, "traffic/0": 2})
    log = with_decisions(tmp_path / "no-traffic.zst", inputs, [needs_traffic])
    with pytest.raises(MissingTopicError, match=r"traffic/0 up to offset 2, but the log has no record of it.*"
                                                r"--topic traffic"):
        Backtest(settings, out.append, reproduce=True).run(EventLogReader(log))
    assert out == []
    short = live_decision("fleet-1", at, {"vehicles/0": 0, "orders/0": 9})
    with pytest.raises(MissingTopicError, match="orders/0 up to offset 9, but the log holds it only up to offset 5"):
        Backtest(settings, out.append, reproduce=True).run(EventLogReader(
            with_decisions(tmp_path / "short.zst", inputs, [short])))
    renamed = load_settings_with({"ENGINE_TOPICS__ORDERS": "orders-live", "ENGINE_TOPICS__VEHICLES": "vehicles-live"})
    with pytest.raises(MissingTopicError, match=r"holds none of the topics a backtest reads.*ENGINE_TOPICS__"):
        Backtest(renamed, out.append).run(inputs)


def test_reproduce_keeps_whether_the_fleet_had_its_llm_turn(tmp_path: Path) -> None:
    """A live decision made without its LLM turn (another fleet had it) is reproduced with llm_asked kept."""
    at = T0 + timedelta(minutes=3)
    decisions = [live_decision("fleet-1", at, {"vehicles/0": 0, "orders/0": 5}, llm_asked=False),
                 live_decision("fleet-2", at, {"vehicles/1": 0, "orders/1": 5}, llm_asked=True)]
    log = with_decisions(tmp_path / "turns.zst", three_fleet_records(), decisions)
    out: list[dict[str, Any]] = []
    Backtest(load_settings_with({}), out.append, reproduce=True).run(EventLogReader(log))
    asked = {item["fleet_id"]: item["record"]["llm_asked"] for item in out if item["kind"] == "route"}
    assert asked == {"fleet-1": False, "fleet-2": True}
