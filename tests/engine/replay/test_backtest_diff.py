"""BacktestDiff: what changes between two backtests, in a table, a JSON report and a PNG."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agents.cli.main import main
from engine.replay.backtest_diff import BacktestDiff, BacktestResult
from tests.engine.replay.conftest import SampleRuns


def test_diff_reports_a_solver_budget_change(sample_runs: SampleRuns, tmp_path: Path) -> None:
    """A smaller solver budget on the same log and answers changes plans and costs; the report says so."""
    diff = BacktestDiff(BacktestResult.read(sample_runs.first), BacktestResult.read(sample_runs.small_budget))
    report = diff.report()
    assert not report["identical"]
    assert report["plans_changed"] > 0 and report["cost_better_in_b"] + report["cost_worse_in_b"] > 0
    assert report["cycles_compared"] == report["totals_a"]["route_cycles"] > 100
    assert report["delta"]["mean_cost"] != 0
    for totals in (report["totals_a"], report["totals_b"]):
        assert 0 < totals["feasible_candidate_rate"] <= 1 and not math.isnan(totals["llm_feasible_rate"])


def test_diff_of_identical_runs_reports_no_difference(sample_runs: SampleRuns) -> None:
    """Two runs of the same configuration: nothing changed, every delta zero."""
    report = BacktestDiff(BacktestResult.read(sample_runs.first), BacktestResult.read(sample_runs.second)).report()
    assert report["identical"] and report["plans_changed"] == 0
    assert all(delta in (0, None) for delta in report["delta"].values())


def test_diff_command_writes_table_png_and_exit_code(sample_runs: SampleRuns, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`engine diff` exits 1 on a difference (0 when equal) and writes a PNG plot and a JSON report."""
    plot, report = tmp_path / "d.png", tmp_path / "d.json"
    code = main(["diff", str(sample_runs.first), str(sample_runs.small_budget), "--plot", str(plot),
                 "--json", str(report)])
    assert code == 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    assert '"per_cycle"' in report.read_text() and "mean_cost" in capsys.readouterr().out
    assert main(["diff", str(sample_runs.first), str(sample_runs.second), "--plot", str(plot)]) == 0


def test_diff_refuses_a_file_that_is_not_a_backtest(tmp_path: Path, sample_runs: SampleRuns) -> None:
    """A truncated or foreign file is an error naming it (exit 2), never a silent empty comparison."""
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(sample_runs.first.read_text().splitlines()[:5]) + "\n")
    with pytest.raises(ValueError, match="no summary line"):
        BacktestResult.read(cut)
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text("hello\n")
    with pytest.raises(ValueError, match=r"foreign.jsonl:1"):
        BacktestResult.read(foreign)
    assert main(["diff", str(foreign), str(sample_runs.first)]) == 2


def decisions_file(path: Path, cycles: Sequence[tuple[str, str, float | None, int]]) -> Path:
    """A minimal decisions file: (fleet, cycle_at, plan cost or None for no plan, unassigned) per route line."""
    lines: list[dict[str, Any]] = [{"kind": "backtest", "log": "x.log.zst"}]
    for fleet, at, cost, unassigned in cycles:
        plan = None if cost is None else {
            "cost": cost, "unassigned": [{"order_id": f"u{i}"} for i in range(unassigned)],
            "routes": [{"vehicle_id": "van", "stops": [{"order_id": f"s{i}"} for i in range(5 - unassigned)]}]}
        lines.append({"kind": "route", "fleet_id": fleet, "cycle_at": at, "plan": plan,
                      "record": {"candidates": [{"source": "solver", "feasible": True}], "prompt_hash": None,
                                 "chosen_source": "solver"}})
    lines.append({"kind": "summary", "alerts": 0})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_served_orders_count_before_cost(tmp_path: Path) -> None:
    """A cheaper plan that leaves more orders unassigned is worse, as the cycle's choice ranks it; a published plan
    beats none; only plans serving the same orders are compared on cost."""
    t1, t2 = "2026-03-02T09:00:15+00:00", "2026-03-02T09:00:30+00:00"
    a = decisions_file(tmp_path / "a.jsonl", [("f1", t1, 100.0, 0), ("f1", t2, 100.0, 1), ("f2", t1, None, 0),
                                              ("f2", t2, 80.0, 0)])
    b = decisions_file(tmp_path / "b.jsonl", [("f1", t1, 60.0, 2), ("f1", t2, 150.0, 0), ("f2", t1, 90.0, 3),
                                              ("f2", t2, 70.0, 0)])
    diff = BacktestDiff(BacktestResult.read(a), BacktestResult.read(b))
    report = diff.report()
    assert {k: report[k] for k in ("better_in_b", "worse_in_b", "served_more_in_b", "served_fewer_in_b",
                                   "cost_better_in_b", "cost_worse_in_b")} == {
        "better_in_b": 3, "worse_in_b": 1, "served_more_in_b": 2, "served_fewer_in_b": 1, "cost_better_in_b": 1,
        "cost_worse_in_b": 0}
    assert [row["b_is"] for row in diff.per_cycle()] == ["worse", "better", "better", "better"]
    assert report["totals_a"]["total_served"] == 5 + 4 + 5 and report["totals_b"]["total_served"] == 3 + 5 + 2 + 5


def test_plot_is_per_fleet_against_event_time(tmp_path: Path) -> None:
    """The figure has one line per fleet and run, on an event-time axis (the cycles' times), not a decision index."""
    from datetime import datetime

    cycles = [(fleet, f"2026-03-02T09:{m:02d}:00+00:00", 50.0 + m, 0) for fleet in ("f1", "f2") for m in range(5)]
    diff = BacktestDiff(BacktestResult.read(decisions_file(tmp_path / "a.jsonl", cycles)),
                        BacktestResult.read(decisions_file(tmp_path / "b.jsonl", cycles)))
    cost_axis = diff.figure().axes[0]
    assert [line.get_label() for line in cost_axis.lines] == ["f1 A", "f1 B", "f2 A", "f2 B"]
    for line in cost_axis.lines:
        assert list(line.get_xdata()) == [datetime.fromisoformat(f"2026-03-02T09:{m:02d}:00+00:00") for m in range(5)]
    out = diff.plot(tmp_path / "plot.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diff_refuses_a_binary_file(tmp_path: Path) -> None:
    """An event log (binary) given to diff is refused with its name and the command that makes a decisions file."""
    log = tmp_path / "run.log.zst"
    log.write_bytes(b"\x28\xb5\x2f\xfd\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match=r"run.log.zst is binary.*engine backtest"):
        BacktestResult.read(log)
