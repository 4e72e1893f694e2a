"""`engine bench ...`: the benchmarks, which live apart in benchmarks/ (a source checkout), run as a child."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from agents.cli.errors import UsageError
from agents.cli.parsing import Commands

# benchmarks/ sits beside agents/ in a checkout; it is not packaged, so the CLI runs it instead of importing it.
CHECKOUT = Path(__file__).resolve().parents[2]


def run(args: argparse.Namespace) -> int:
    """Benchmarks that print JSON: routes, cycle, ingest, stream, fraud, replay, redis (`engine bench -h`)."""
    return forward(args.bench_args)


def forward(bench_args: list[str]) -> int:
    """Run `python -m benchmarks` with these arguments (its own parser answers -h and reports its errors)."""
    if not (CHECKOUT / "benchmarks" / "__main__.py").is_file():
        raise UsageError(f"benchmarks/ is not in {CHECKOUT}: run `engine bench` from a source checkout")
    path = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get("PYTHONPATH", "")) if p)
    completed = subprocess.run([sys.executable, "-m", "benchmarks", *bench_args], check=False,
                               env={**os.environ, "PYTHONPATH": path})
    return completed.returncode


def add_to(commands: Commands) -> None:
    bench = commands.add_parser("bench", help=run.__doc__, add_help=False)
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="the benchmark and its options")
    bench.set_defaults(run=run)
