"""`engine demo` options: every impossible value refused in one line before anything starts; run ids and reset."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import pytest

from agents.cli.main import main
from agents.demo.simulator import RUN_ID_PATTERN
from agents.routes.plan_store import PlanStore
from agents.routes.summary_store import SummaryStore
from engine.routes.state import FleetState
from schemas import PlannedStop, RoutePlan, VehicleRoute
from tests.factories import T0, order, vehicle
from tests.support import REDIS_URL, redis_client


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ENGINE_* variable from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("ENGINE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """What run_demo was called with (it is replaced: these tests start no services and no worker)."""
    calls: list[dict[str, object]] = []

    def fake_run_demo(settings: object, **options: object) -> int:
        calls.append(options)
        return 0

    monkeypatch.setattr("agents.cli.demo.run_demo", fake_run_demo)
    return calls


@pytest.mark.parametrize(("argv", "option"), [
    (["--duration", "-5"], "--duration"), (["--duration", "0"], "--duration"), (["--duration", "soon"], "--duration"),
    (["--duration", "1e9"], "--duration"), (["--fleets", "0"], "--fleets"), (["--fleets", "11"], "--fleets"),
    (["--fleets", "2.5"], "--fleets"), (["--rate", "0"], "--rate"), (["--rate", "-1"], "--rate"),
    (["--rate", "5000"], "--rate"), (["--rate", "nan"], "--rate"), (["--run-id", "a:b"], "--run-id"),
    (["--run-id", "-x"], "--run-id"), (["--run-id", "x" * 33], "--run-id"), (["--run-id", "a*"], "--run-id"),
])
def test_impossible_option_is_one_line_before_anything_starts(argv: list[str], option: str,
                                                              started: list[dict[str, object]],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Each bad value: exit 2, one `error:` line naming the option, and the demo (services, worker) never starts."""
    with pytest.raises(SystemExit) as caught:
        main(["demo", *argv])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: demo: argument {option}: ")
    assert started == []


def test_good_options_reach_the_demo_with_a_fresh_run_id_each_time(started: list[dict[str, object]]) -> None:
    """Defaults are 2 fleets at 20 events/s until Ctrl-C; without --run-id every run gets its own valid id."""
    assert main(["demo"]) == 0
    assert main(["demo", "--duration", "30", "--fleets", "10", "--rate", "1000"]) == 0
    assert main(["demo", "--run-id", "demo_7"]) == 0
    first, second, third = started
    assert {k: v for k, v in first.items() if k != "run_id"} == {"duration_s": None, "fleets": 2, "rate": 20.0}
    assert {k: v for k, v in second.items() if k != "run_id"} == {"duration_s": 30.0, "fleets": 10, "rate": 1000.0}
    assert first["run_id"] != second["run_id"]
    assert all(RUN_ID_PATTERN.fullmatch(str(call["run_id"])) for call in (first, second))
    assert third["run_id"] == "demo_7"


@pytest.mark.parametrize(("argv", "needs"), [(["--reset"], "--reset needs --run-id"),
                                             (["--reset", "--run-id", "r1", "--fleets", "3"], "drop --fleets")])
def test_reset_misuse_is_one_line(argv: list[str], needs: str, started: list[dict[str, object]],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--reset without a run id, or with options of a run: one error line, exit 2, nothing started."""
    assert main(["demo", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needs in err
    assert started == []


def plan_for(fleet_id: str) -> RoutePlan:
    at = T0 + timedelta(minutes=5)
    stop = PlannedStop(order_id=f"{fleet_id}-o1", arrival=at, service_start=at, departure=at, load_after=1)
    route = VehicleRoute(vehicle_id="van-1", stops=[stop], travel_seconds=60, distance=500)
    return RoutePlan(plan_id=RoutePlan.make_id(fleet_id, at), fleet_id=fleet_id, cycle_at=at, routes=[route],
                     cost=60, source="solver")


@pytest.mark.integration
def test_reset_deletes_only_that_runs_redis_keys(services: None, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Plans, next stops and summaries written by the worker's own stores for run r1's fleets are deleted (and
    their entries in the fleets set); run r2's fleet is untouched; the output says what is not reset."""
    prefix = f"test-demo-{os.getpid()}"
    monkeypatch.setenv("ENGINE_REDIS_PREFIX", prefix)
    fleets = ["north-r1", "south-r1", "north-r2"]

    async def write() -> None:
        plans, summaries = PlanStore(REDIS_URL, prefix), SummaryStore(REDIS_URL, prefix)
        try:
            for fleet in fleets:
                await plans.publish(plan_for(fleet))
                state = FleetState(fleet)
                state.apply(vehicle(fleet, "van-1"))
                state.apply(order(fleet, f"{fleet}-o1"))
                await summaries.write(state.summary(T0))
        finally:
            await plans.close()
            await summaries.close()

    asyncio.run(write())
    client = redis_client()
    try:
        before = set(client.scan_iter(match=f"{prefix}:*"))
        assert len(before) == 3 * 4 + 1  # plan, plan-vehicles, van-1 next stops, summary per fleet; fleets set
        assert main(["demo", "--run-id", "r1", "--reset"]) == 0
        out = capsys.readouterr().out
        assert "deleted 8 Redis key(s) of fleets north-r1, south-r1" in out and "not reset:" in out
        left = set(client.scan_iter(match=f"{prefix}:*"))
        assert left == {key for key in before if ":north-r2:" in key} | {f"{prefix}:fleets"}
        assert client.smembers(f"{prefix}:fleets") == {"north-r2"}
        assert main(["demo", "--run-id", "r1", "--reset"]) == 0  # twice: nothing left, still fine
        assert "deleted 0 Redis key(s) of fleets none had any" in capsys.readouterr().out
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()
