"""`engine demo`: local services, a worker and a synthetic fleet stream, shown live."""

from __future__ import annotations

import argparse

from agents.cli.parsing import Commands, positive_float, positive_int
from agents.demo.demo import run_demo
from engine.settings import load_settings


def run(args: argparse.Namespace) -> int:
    """Start services if needed, run a worker and feed it a synthetic fleet stream."""
    code: int = run_demo(load_settings(), duration_s=args.duration, fleets=args.fleets, rate=args.rate)
    return code


def add_to(commands: Commands) -> None:
    demo = commands.add_parser("demo", help=run.__doc__)
    demo.add_argument("--duration", type=positive_float, default=None, help="seconds to run (default: until Ctrl-C)")
    demo.add_argument("--fleets", type=positive_int, default=2, help="number of synthetic fleets")
    demo.add_argument("--rate", type=positive_float, default=20.0, help="at most this many events per second")
    demo.set_defaults(run=run)
