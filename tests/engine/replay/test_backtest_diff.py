"""BacktestDiff: what changes between two backtests, in a table, a JSON report and a PNG."""

from __future__ import annotations

import math
from pathlib import Path

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
