"""`engine diff`: compare two backtests."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agents.cli.errors import UsageError, existing_file
from agents.cli.parsing import Commands
from engine.replay.backtest_diff import BacktestDiff, BacktestResult


def _check_outputs(args: argparse.Namespace) -> Path:
    """The plot's path; --plot and --json refused up front when they cannot be written."""
    plot: Path = args.plot or args.b.with_name(args.b.name + ".diff.png")
    for option, path, example in (("--plot", plot, "diff.png"), ("--json", args.json, "diff.json")):
        if path is None:
            continue
        if path.is_dir():
            raise UsageError(f"{option} {path} is a folder: give a file name, e.g. {path / example}")
        if not path.parent.is_dir():
            raise UsageError(f"{option} {path}: folder {path.parent} does not exist (create it first)")
    return plot


def run(args: argparse.Namespace) -> int:
    """Compare two backtests (served orders first, then cost): totals, a PNG per fleet; exit 1 if they differ."""
    plot_path = _check_outputs(args)
    try:
        diff = BacktestDiff(BacktestResult.read(existing_file(args.a)), BacktestResult.read(existing_file(args.b)))
    except (OSError, ValueError) as error:
        raise UsageError(str(error)) from error
    report = diff.report()
    table = Table(title=f"A = {args.a}   B = {args.b}")
    for column in ("", "A", "B", "B - A"):
        table.add_column(column, justify="right" if column else "left")
    for name, value_a in report["totals_a"].items():
        delta = report["delta"].get(name)
        table.add_row(name, f"{value_a:g}", f"{report['totals_b'].get(name, float('nan')):g}",
                      "" if delta is None else f"{delta:+g}")
    console = Console()
    console.print(table)
    plot = diff.plot(plot_path)
    counts = {k: report[k] for k in ("cycles_compared", "cycles_only_in_a", "cycles_only_in_b", "plans_changed",
                                     "better_in_b", "worse_in_b", "served_more_in_b", "served_fewer_in_b",
                                     "cost_better_in_b", "cost_worse_in_b", "fraud_scores_changed", "identical")}
    console.print(json.dumps({**counts, "plot": str(plot)}))
    if args.json is not None:
        args.json.write_text(json.dumps({**report, "per_cycle": diff.per_cycle(), "plot": str(plot)}, indent=2) + "\n")
    return 0 if report["identical"] else 1


def add_to(commands: Commands) -> None:
    diff = commands.add_parser("diff", help=run.__doc__)
    diff.add_argument("a", type=Path, help="a backtest's decisions file (the baseline)")
    diff.add_argument("b", type=Path, help="another backtest's decisions file (the candidate)")
    diff.add_argument("--plot", type=Path, default=None, help="the PNG, per fleet against event time (default: "
                      "B.diff.png)")
    diff.add_argument("--json", type=Path, default=None, help="also write the full report, per cycle, here")
    diff.set_defaults(run=run)
