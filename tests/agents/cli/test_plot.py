"""`engine plot plan`: a fleet's plan as a PNG, from a file, from Redis or from the routes topic; one-line errors."""

from __future__ import annotations

import asyncio
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from agents.cli.main import main
from agents.kafka.topics import ensure_topics
from agents.routes.plan_store import PlanStore
from schemas import Location, OrderEvent, RoutePlan, TimeWindow, VehicleEvent
from tests.engine.routes.test_plan_drawing import sample_plan
from tests.factories import T0
from tests.support import IsolatedEngine, produce


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ENGINE_* variable from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("ENGINE_"):
            monkeypatch.delenv(name)


def events_of(fleet: str, orders: dict[str, Location], vehicles: dict[str, Location]) -> list[bytes]:
    shift = TimeWindow(start=T0, end=T0 + timedelta(hours=8))
    return [OrderEvent(event_id=f"{o}-c", action="create", fleet_id=fleet, order_id=o, occurred_at=T0, location=loc,
                       demand=2, time_window=shift).to_bytes() for o, loc in orders.items()] + [
        VehicleEvent(event_id=f"{v}-0", fleet_id=fleet, vehicle_id=v, occurred_at=T0, position=loc, capacity=10,
                     shift=shift).to_bytes() for v, loc in vehicles.items()]


def plan_files(tmp_path: Path) -> tuple[RoutePlan, Path, Path]:
    plan, orders, vehicles = sample_plan()
    plan_file, events = tmp_path / "plan.json", tmp_path / "events.jsonl"
    plan_file.write_bytes(plan.to_bytes())
    events.write_bytes(b"\n".join(events_of(plan.fleet_id, orders, vehicles)) + b"\n")
    return plan, plan_file, events


def assert_png(path: Path, capsys: pytest.CaptureFixture[str], plan: RoutePlan) -> None:
    image = Image.open(io.BytesIO(path.read_bytes()))
    assert image.format == "PNG" and image.width == 760
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {path}: {plan.plan_id}, 2 route(s), 6 stop(s), 1 unassigned")
    assert "no position" not in out


def test_plan_file_and_events_file_give_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --plan-file and --events nothing is read from Redis or Kafka; every stop has its position."""
    plan, plan_file, events = plan_files(tmp_path)
    out = tmp_path / "plan.png"
    assert main(["plot", "plan", "--plan-file", str(plan_file), "--events", str(events), "--out", str(out)]) == 0
    assert_png(out, capsys, plan)


@pytest.mark.parametrize(("given", "says"), [
    (["--out", "{tmp}/missing/plan.png"], "folder {tmp}/missing does not exist"),
    (["--out", "{tmp}"], "is a folder"),
    (["--plan-file", "{tmp}/nope.json"], "--plan-file {tmp}/nope.json does not exist"),
    (["--plan-file", "{tmp}/events.jsonl"], "--plan-file {tmp}/events.jsonl is not a RoutePlan"),
    (["--plan-file", "{tmp}/plan.json", "--fleet", "other"], "--fleet other does not match fleet fleet-d"),
    (["--plan-file", "{tmp}/plan.json", "--events", "{tmp}/bad.jsonl"], "--events {tmp}/bad.jsonl line 2: not a valid"),
    ([], "give --fleet FLEET_ID"),
])
def test_bad_options_fail_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], given: list[str],
                                        says: str) -> None:
    """A missing or wrong file, a folder as --out, a mismatched fleet or no fleet at all: exit 2, one line."""
    _, _, events = plan_files(tmp_path)
    (tmp_path / "bad.jsonl").write_text(events.read_text().splitlines()[0] + "\n" + '{"order_id": "x"}\n')
    args = [a.replace("{tmp}", str(tmp_path)) for a in given]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "plan.png")]
    assert main(["plot", "plan", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says.replace("{tmp}", str(tmp_path)) in err and err.count("\n") == 1


@pytest.mark.integration
def test_plan_from_redis_and_positions_from_the_topics(engine: IsolatedEngine, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The plan comes from Redis, the positions from the orders and vehicles topics (another fleet's ignored)."""
    for name, value in engine.env.items():
        monkeypatch.setenv(name, value)
    settings = engine.settings
    asyncio.run(ensure_topics(settings))
    plan, orders, vehicles = sample_plan()
    _, elsewhere, _ = sample_plan("fleet-x")
    produce(settings.topics.orders, [(b"fleet-x", e) for e in events_of("fleet-x", {"o1": elsewhere["o6"]}, {})])
    produce(settings.topics.orders, [(b"fleet-d", e) for e in events_of("fleet-d", orders, {})])
    produce(settings.topics.vehicles, [(b"fleet-d", e) for e in events_of("fleet-d", {}, vehicles)])

    async def publish() -> None:
        store = PlanStore(str(settings.redis_url), settings.redis_prefix)
        await store.publish(plan)
        await store.close()

    asyncio.run(publish())
    out = tmp_path / "redis.png"
    assert main(["plot", "plan", "--fleet", "fleet-d", "--out", str(out)]) == 0
    assert_png(out, capsys, plan)


@pytest.mark.integration
def test_plan_from_the_routes_topic_and_unknown_fleet(engine: IsolatedEngine, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--source topic reads the newest plan from the routes topic; a fleet with no plan anywhere is one line."""
    for name, value in engine.env.items():
        monkeypatch.setenv(name, value)
    settings = engine.settings
    asyncio.run(ensure_topics(settings))
    plan, _, _ = sample_plan()
    produce(settings.topics.routes, [(b"fleet-d", plan.to_bytes())])
    _, _, events = plan_files(tmp_path)
    out = tmp_path / "topic.png"
    assert main(["plot", "plan", "--fleet", "fleet-d", "--source", "topic", "--events", str(events),
                 "--out", str(out)]) == 0
    assert_png(out, capsys, plan)
    assert main(["plot", "plan", "--fleet", "fleet-none", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --fleet fleet-none: no plan in Redis") and err.count("\n") == 1
