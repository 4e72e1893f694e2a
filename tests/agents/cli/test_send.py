"""`engine send`: every line checked against the topic's schema first; all sent with the producers' keys, or none."""

from __future__ import annotations

import asyncio
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.cli.main import main
from agents.kafka.topics import ensure_topics
from schemas import OrderEvent, Transaction, VehicleEvent
from tests.factories import order, traffic, vehicle
from tests.fraud_factories import transaction
from tests.support import IsolatedEngine, consume_all


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ENGINE_* variable from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("ENGINE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def isolated(engine: IsolatedEngine, monkeypatch: pytest.MonkeyPatch) -> IsolatedEngine:
    """This test's private topic names, seen by `engine send` through the environment."""
    for name, value in engine.env.items():
        monkeypatch.setenv(name, value)
    return engine


def jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def landed(topic: str, expect: int) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record on the topic, in key then offset order."""
    records = consume_all(topic, expect=expect)
    return [(r.key, r.value) for r in sorted(records, key=lambda r: (r.key or b"", r.offset))]


@pytest.mark.integration
def test_good_jsonl_file_lands_keyed_by_fleet(isolated: IsolatedEngine, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Orders of two fleets: all land on the orders topic, each keyed by its fleet, with the wire bytes."""
    events = [order("north", "o1"), order("south", "o2", minute=1), order("north", "o1", action="cancel", minute=2)]
    path = jsonl(tmp_path / "orders.jsonl", [e.model_dump_json() for e in events])
    topic = isolated.settings.topics.orders
    assert main(["send", topic, str(path)]) == 0
    assert capsys.readouterr().out == f"sent 3 events to {topic}\n"
    expected = sorted(((e.fleet_id.encode(), e.to_bytes()) for e in events), key=lambda kv: kv[0])
    assert landed(topic, 3) == expected


@pytest.mark.integration
def test_good_csv_with_dotted_columns_lands(isolated: IsolatedEngine, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A CSV of orders (location.lat, time_window.start, ...; an empty cell = the default) lands as the same
    OrderEvents a JSON file would give, keyed by fleet."""
    events = [order("north", "o1", demand=3), order("north", "o2", minute=5, lat=53.41, lon=-2.99)]
    header = "event_id,action,fleet_id,order_id,occurred_at,location.lat,location.lon,demand,time_window.start," \
             "time_window.end,service_time_s,note"
    rows = [header] + [
        f"{e.event_id},{e.action},{e.fleet_id},{e.order_id},{e.occurred_at.isoformat()},{e.location.lat},"  # type: ignore[union-attr]
        f"{e.location.lon},{e.demand},{e.time_window.start.isoformat()},{e.time_window.end.isoformat()},"  # type: ignore[union-attr]
        f"{e.service_time_s:g}," for e in events
    ]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n")
    topic = isolated.settings.topics.orders
    assert main(["send", topic, str(path)]) == 0
    assert capsys.readouterr().out == f"sent 2 events to {topic}\n"
    got = landed(topic, 2)
    assert {key for key, _ in got} == {b"north"}
    assert sorted((OrderEvent.from_bytes(value or b"") for _, value in got), key=lambda e: e.order_id) == events


@pytest.mark.integration
def test_bad_lines_are_all_reported_and_nothing_is_sent(isolated: IsolatedEngine, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Wrong type on line 3, missing field on line 5, not JSON on line 7: exactly those three FILE:LINE errors,
    exit 2, and the (existing) topic stays empty although the other four lines are valid."""
    asyncio.run(ensure_topics(isolated.settings))
    good = [order("f", f"o{i}", minute=i).model_dump(mode="json") for i in range(7)]
    good[2]["demand"] = "three"
    del good[4]["order_id"]
    lines = [json.dumps(item) for item in good]
    lines[6] = '{"event_id": "x", "action": "create"'
    path = jsonl(tmp_path / "bad.jsonl", lines)
    topic = isolated.settings.topics.orders
    assert main(["send", topic, str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    reported = [line for line in err if line.startswith(f"{path}:")]
    assert [line.split(":")[1] for line in reported] == ["3", "5", "7"]
    assert "demand" in reported[0] and "order_id" in reported[1] and "JSON" in reported[2]
    assert err[-1] == f"error: 3 invalid line(s) in {path} (OrderEvent): nothing sent"
    assert consume_all(topic) == []


@pytest.mark.integration
def test_stdin_input_lands(isolated: IsolatedEngine, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    """`send TOPIC -` (and `send TOPIC` alone) read JSON lines from stdin: vehicles land keyed by fleet."""
    events = [vehicle("north", "van-1"), vehicle("north", "van-2", minute=1)]
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(e.model_dump_json() + "\n\n" for e in events)))
    topic = isolated.settings.topics.vehicles
    assert main(["send", topic, "-"]) == 0
    assert capsys.readouterr().out == f"sent 2 events to {topic}\n"
    assert [VehicleEvent.from_bytes(v or b"") for _, v in landed(topic, 2)] == events


@pytest.mark.integration
def test_payments_are_keyed_by_customer_and_traffic_by_fleet(isolated: IsolatedEngine, tmp_path: Path) -> None:
    """Transactions carry their customer as key (what the fraud agent checks); traffic its fleet."""
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    payments = [transaction("tx1", at, customer="c7"), transaction("tx2", at, customer="c8")]
    topics = isolated.settings.topics
    assert main(["send", topics.transactions, str(jsonl(tmp_path / "tx.jsonl",
                                                         [p.model_dump_json() for p in payments]))]) == 0
    got = landed(topics.transactions, 2)
    assert [(k, Transaction.from_bytes(v or b"")) for k, v in got] == [(b"c7", payments[0]), (b"c8", payments[1])]
    jam = traffic("north", "jam-1")
    assert main(["send", topics.traffic, str(jsonl(tmp_path / "t.jsonl", [jam.model_dump_json()]))]) == 0
    assert landed(topics.traffic, 1) == [(b"north", jam.to_bytes())]


@pytest.mark.integration
def test_dry_run_validates_and_sends_nothing(isolated: IsolatedEngine, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """--dry-run checks every line, says how many are valid and leaves the (existing) topic empty."""
    asyncio.run(ensure_topics(isolated.settings))
    path = jsonl(tmp_path / "o.jsonl", [order("f", "o1").model_dump_json(), order("f", "o2").model_dump_json()])
    topic = isolated.settings.topics.orders
    assert main(["send", topic, str(path), "--dry-run"]) == 0
    assert capsys.readouterr().out == f"2 valid OrderEvent events for {topic} (dry run: nothing sent)\n"
    assert consume_all(topic) == []


def test_unknown_topic_lists_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An output or misspelt topic: one error line naming every topic events can be sent to, exit 2."""
    assert main(["send", "routes", str(jsonl(tmp_path / "x.jsonl", ["{}"]))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: unknown topic 'routes'") and all(
        name in err for name in ("orders", "vehicles", "traffic", "transactions", "fraud-labels"))


@pytest.mark.parametrize(("name", "text"), [("empty.jsonl", ""), ("blank.jsonl", "\n  \n"),
                                            ("header-only.csv", "event_id,action\n")])
def test_empty_input_is_a_clear_error(tmp_path: Path, name: str, text: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """No events at all (empty file, blank lines, a CSV header alone): one error line, exit 2."""
    path = tmp_path / name
    path.write_text(text)
    assert main(["send", "orders", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no events" in err and str(path) in err


def test_csv_row_problems_name_their_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A short row, a cell that is not JSON and a value that is not a number: each its own FILE:LINE line."""
    at = "2026-03-02T08:00:00+00:00"
    path = tmp_path / "v.csv"
    path.write_text("event_id,fleet_id,vehicle_id,occurred_at,position.lat,position.lon,capacity,shift.start,"
                    "shift.end,committed_stops\n"
                    f"e1,f,van,{at},53.4,-2.9,10,{at},{at},\n"
                    "e2,f,van\n"
                    f'e3,f,van,{at},53.4,-2.9,10,{at},{at},"[o1,"\n'
                    f"e4,f,van,{at},53.4,-2.9,ten,{at},{at},\n")
    assert main(["send", "vehicles", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{path}:3: 3 values, but the header has 10 columns"
    assert err[1].startswith(f"{path}:4: column committed_stops: not JSON")
    assert err[2].startswith(f"{path}:5: capacity:")
    assert len(err) == 4


def test_unknown_key_field_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--key-field must be a field of the topic's schema: one line listing the fields, exit 2."""
    path = jsonl(tmp_path / "o.jsonl", [order("f", "o1").model_dump_json()])
    assert main(["send", "orders", str(path), "--key-field", "colour"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--key-field colour" in err and "fleet_id" in err


def test_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A FILE that does not exist: one error line, exit 2."""
    assert main(["send", "orders", str(tmp_path / "none.jsonl")]) == 2
    assert capsys.readouterr().err == f"error: FILE {tmp_path / 'none.jsonl'} does not exist\n"
