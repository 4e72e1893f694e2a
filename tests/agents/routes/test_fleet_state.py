"""Integration tests of the fleet-state agent on the real local Kafka and Redis."""

from __future__ import annotations

import base64
import json
import signal
import threading
import time

import pytest

from schemas import DeadLetter
from tests.factories import order, traffic, vehicle
from tests.support import (
    IsolatedEngine,
    WorkerProcess,
    committed_offsets,
    consume_all,
    fleet_from_changelog,
    produce,
    redis_client,
    wait_for,
)

pytestmark = pytest.mark.integration


def summary_of(engine: IsolatedEngine, fleet: str) -> dict[str, str]:
    key = f"{engine.settings.redis_prefix}:fleet:{fleet}:summary"
    with redis_client() as client:
        result: dict[str, str] = client.hgetall(key)
    return result


def changelog(engine: IsolatedEngine) -> str:
    return f"{engine.settings.app_id}-fleet-entities-changelog"


def test_events_reach_table_and_redis(engine: IsolatedEngine, worker: WorkerProcess) -> None:
    """Order, vehicle and traffic events produced with aiokafka reach the Faust table and the Redis summary."""
    worker.start()
    topics = engine.settings.topics
    produce(topics.orders, [(b"fleet-a", order("fleet-a", "o-1", demand=3).to_bytes())])
    produce(topics.vehicles, [(b"fleet-a", vehicle("fleet-a", "v-1", capacity=12, load=2).to_bytes())])
    produce(topics.traffic, [(b"fleet-a", traffic("fleet-a", "jam-1").to_bytes())])

    summary = wait_for(lambda: (s := summary_of(engine, "fleet-a")).get("events_applied") == "3" and s,
                       30, "three events in the Redis summary")
    assert summary["open_orders"] == "1"
    assert summary["open_demand"] == "3"
    assert summary["vehicles"] == "1"
    assert summary["free_capacity"] == "10"

    table = wait_for(lambda: (f := fleet_from_changelog(changelog(engine), "fleet-a")[0]).events_applied == 3 and f,
                     15, "table changelog")
    assert table.orders["o-1"].demand == 3
    assert set(table.vehicles) == {"v-1"}
    assert set(table.traffic) == {"jam-1"}


def _stream_orders(fleet: str, count: int, cancel_every: int) -> list[bytes]:
    """The messages of a steady stream: `count` creates, then a cancel of every `cancel_every`-th order."""
    values = [order(fleet, f"o-{i}", minute=i).to_bytes() for i in range(count)]
    values += [order(fleet, f"o-{i}", minute=count + i, action="cancel").to_bytes()
               for i in range(0, count, cancel_every)]
    return values


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["graceful-stop", "crash"])
def test_restart_mid_stream_loses_nothing(
    engine: IsolatedEngine, worker: WorkerProcess, stop_signal: signal.Signals
) -> None:
    """A worker stopped mid-stream resumes from committed offsets and its table changelog: no event lost or doubled."""
    worker.start()
    topic = engine.settings.topics.orders
    values = _stream_orders("fleet-r", count=100, cancel_every=10)
    feeder = threading.Thread(target=produce, args=(topic, [(b"fleet-r", v) for v in values], 0.03))
    feeder.start()
    wait_for(lambda: int(summary_of(engine, "fleet-r").get("events_applied", "0")) >= 25, 60, "25 events applied")
    worker.stop(stop_signal)
    applied_before = int(summary_of(engine, "fleet-r")["events_applied"])
    assert applied_before < len(values), "the worker must be stopped mid-stream for this test to mean anything"
    feeder.join()
    if stop_signal == signal.SIGTERM:
        assert sum(committed_offsets(engine.settings.app_id, topic).values()) > 0

    worker.start()
    final = wait_for(
        lambda: (s := summary_of(engine, "fleet-r")).get("events_applied") == str(len(values)) and s,
        90, f"all {len(values)} events applied after the restart",
    )
    assert final["open_orders"] == "90"
    assert final["closed_orders"] == "10"
    state = wait_for(
        lambda: (t := fleet_from_changelog(changelog(engine), "fleet-r")[0]).events_applied == len(values) and t,
        15, "the changelog to hold the final state",
    )
    assert sorted(state.orders) == sorted(f"o-{i}" for i in range(100) if i % 10)
    assert set(state.closed_orders) == {f"o-{i}" for i in range(0, 100, 10)}
    time.sleep(1.5)  # a duplicate redelivery, if any, would show up as a higher count now
    assert summary_of(engine, "fleet-r")["events_applied"] == str(len(values))


def test_malformed_events_go_to_dead_letters(engine: IsolatedEngine, worker: WorkerProcess) -> None:
    """Bad JSON, wrong type, missing field, wrong key: dead-lettered with error and bytes; neighbours flow."""
    worker.start()
    topics = engine.settings.topics
    good_1 = order("fleet-d", "o-1").to_bytes()
    good_2 = order("fleet-d", "o-2").to_bytes()
    bad_json = b'{"event_id": "x", "action": '
    wrong_type = json.dumps({**json.loads(good_1), "order_id": "o-3", "demand": "three"}).encode()
    missing = json.loads(good_1)
    del missing["occurred_at"]
    missing_field = json.dumps({**missing, "order_id": "o-4"}).encode()
    wrong_key = order("fleet-other", "o-5").to_bytes()
    produce(topics.orders, [(b"fleet-d", good_1), (b"fleet-d", bad_json), (b"fleet-d", wrong_type),
                            (b"fleet-d", missing_field), (b"fleet-d", wrong_key), (b"fleet-d", good_2)])

    letters = wait_for(lambda: len(r := consume_all(topics.dead_letters, expect=4)) >= 4 and r, 30,
                       "four dead letters")
    by_value = {DeadLetter.from_bytes(r.value or b"").original_value: DeadLetter.from_bytes(r.value or b"")
                for r in letters}
    assert set(by_value) == {bad_json, wrong_type, missing_field, wrong_key}
    assert by_value[bad_json].errors[0].error_type == "json_invalid"
    assert [(e.location, e.error_type) for e in by_value[wrong_type].errors] == [("demand", "int_type")]
    assert [(e.location, e.error_type) for e in by_value[missing_field].errors] == [("occurred_at", "missing")]
    assert by_value[wrong_key].errors[0].error_type == "key_mismatch"
    for letter in by_value.values():
        assert letter.source_topic == topics.orders
        assert letter.expected_schema == "OrderEvent"
        assert letter.original_key == b"fleet-d"
        assert letter.offset is not None
    assert all(r.headers["error"].startswith(b"invalid OrderEvent") for r in letters)
    assert base64.b64decode(by_value[bad_json].value_base64) == bad_json

    summary = wait_for(lambda: (s := summary_of(engine, "fleet-d")).get("open_orders") == "2" and s, 30,
                       "both good orders in the summary")
    assert summary["events_applied"] == "2"


def test_changelog_records_stay_small_at_depot_size(engine: IsolatedEngine, worker: WorkerProcess) -> None:
    """At 3,000 open orders and 300 vehicles every changelog record is one entity (< 4 KiB), ≈2 records an event."""
    worker.start()
    topics = engine.settings.topics
    orders = [(b"fleet-big", order("fleet-big", f"o-{i}", demand=1).to_bytes()) for i in range(3000)]
    vehicles = [(b"fleet-big", vehicle("fleet-big", f"v-{i}", capacity=20).to_bytes()) for i in range(300)]
    produce(topics.orders, orders)
    produce(topics.vehicles, vehicles)
    wait_for(lambda: summary_of(engine, "fleet-big").get("events_applied") == "3300", 120, "3,300 events applied")
    produce(topics.vehicles, [(b"fleet-big", vehicle("fleet-big", "v-7", minute=1, capacity=20, load=3).to_bytes())])
    state, largest = wait_for(
        lambda: (r := fleet_from_changelog(changelog(engine), "fleet-big"))[0].events_applied == 3301 and r,
        60, "the changelog to hold all 3,301 events")
    assert len(state.orders) == 3000 and len(state.vehicles) == 300 and state.vehicles["v-7"].load == 3
    assert largest < 4096
    records = consume_all(changelog(engine))
    assert len(records) <= 2 * 3301 + 10  # one entity record and one meta record per event
