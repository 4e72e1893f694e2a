"""`engine fraud report MODEL_DIR`: print a model's metrics table and write its precision-recall / histogram PNG."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agents.cli.errors import UsageError
from engine.fraud.report import ReportError, write_report


def run_report(args: argparse.Namespace) -> int:
    """Print the model's test-day metrics against the rules and write the PNG (curve and histogram)."""
    if not args.model_dir.is_dir():
        raise UsageError(f"MODEL_DIR {args.model_dir} is not a folder (e.g. models/fraud)")
    try:
        table, png = write_report(args.model_dir, args.png)
    except ReportError as error:
        raise UsageError(str(error)) from error
    print(table)
    print(f"\nwrote {png}")
    return 0


def add_to(fraud: Any) -> None:
    """Register `report` on the `fraud` sub-commands."""
    report = fraud.add_parser("report", help=run_report.__doc__)
    report.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="a model folder, or one with LATEST")
    report.add_argument("--png", type=Path, default=None, help="where to write it (default MODEL/report.png)")
    report.set_defaults(run=run_report)
