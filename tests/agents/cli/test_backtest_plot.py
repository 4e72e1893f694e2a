"""`engine backtest --plot`: a short backtest draws per-fleet series into a PNG; a bad path is refused first."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.cli.main import main
from engine.replay.backtest_series import read_series
from engine.replay.event_log import EventLogWriter, LogRecord
from schemas import GeoPoint, OrderEvent, TimeWindow, VehicleEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ENGINE_* variable from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("ENGINE_"):
            monkeypatch.delenv(name)


def two_fleet_log(path: Path) -> Path:
    """Fleets f and g, one van each, an order every 10 s for 2 minutes: cycles every 15 s of event time."""
    shift = TimeWindow(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=8))
    offsets: Counter[str] = Counter()
    with EventLogWriter(path) as writer:
        def append(topic: str, at: datetime, key: str, value: bytes) -> None:
            writer.append(LogRecord(topic, 0, offsets[topic], int(at.timestamp() * 1000), key.encode(), value))
            offsets[topic] += 1

        for fleet in ("f", "g"):
            van = VehicleEvent(event_id=f"{fleet}-v", fleet_id=fleet, vehicle_id="van", occurred_at=T0,
                               position=GeoPoint(lat=53.40, lon=-2.99), capacity=10, shift=shift)
            append("vehicles", T0, fleet, van.to_bytes())
        for i in range(12):
            at = T0 + timedelta(seconds=10 * (i + 1))
            fleet = "fg"[i % 2]
            order = OrderEvent(event_id=f"o{i}", action="create", fleet_id=fleet, order_id=f"o{i}", occurred_at=at,
                               location=GeoPoint(lat=53.40 + 0.002 * i, lon=-2.98), demand=1,
                               time_window=TimeWindow(start=T0, end=T0 + timedelta(hours=2)))
            append("orders", at, fleet, order.to_bytes())
    return path


def test_backtest_plot_writes_a_png_of_every_fleets_cycles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--plot writes a PNG (signature, non-empty) named in the summary; the series hold one point per route
    decision of each fleet, the same count for both fleets, one per cycle."""
    log, out, png = two_fleet_log(tmp_path / "two.log.zst"), tmp_path / "out.jsonl", tmp_path / "plot.png"
    assert main(["backtest", str(log), "--out", str(out), "--llm", "none", "--plot", str(png)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["plot"] == str(png)
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    decisions = Counter(item["fleet_id"] for item in map(json.loads, out.read_text().splitlines())
                        if item["kind"] == "route")
    series = read_series(out)
    assert {fleet: len(s) for fleet, s in series.items()} == dict(decisions) == {"f": 9, "g": 9}
    assert summary["route_decisions"] == 18
    assert all(s.llm_acceptance.tolist() == [0.0] * 9 for s in series.values()), "--llm none: no LLM plan"


@pytest.mark.parametrize(("plot", "message"), [("missing/plot.png", "does not exist (create it first)"),
                                               (".", "is a folder"), ("plot.jpg", "ending in .png")])
def test_bad_plot_path_is_refused_before_the_backtest(tmp_path: Path, plot: str, message: str,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A --plot in a missing folder, a folder, or not a .png: one error line, exit 2, and no backtest ran."""
    ran: list[object] = []
    monkeypatch.setattr("agents.cli.backtest.run_backtest", lambda *a, **k: ran.append(a))
    log = two_fleet_log(tmp_path / "two.log.zst")
    assert main(["backtest", str(log), "--out", str(tmp_path / "out.jsonl"), "--llm", "none",
                 "--plot", str(tmp_path / plot)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --plot ") and message in err
    assert ran == [] and not (tmp_path / "out.jsonl").exists()
