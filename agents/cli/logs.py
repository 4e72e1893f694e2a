"""`engine logs taxi|bus|fraud`: public data as event logs for backtests."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agents.cli.errors import UsageError, existing_file
from agents.cli.parsing import HANDBOOK, Commands
from engine.replay import datasets

EVENTS = Path("../shared/data/events")


def _check_options(args: argparse.Namespace) -> None:
    """Refuse an output path or day range that cannot work, before reading any data."""
    out: Path = args.out
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder: give a file name, e.g. {out / 'run.log.zst'}")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist (create it first)")
    if args.source == "fraud" and args.last_day is not None and args.last_day < args.first_day:
        raise UsageError(f"--last-day {args.last_day} is before --first-day {args.first_day}")
    for option in ("trips", "zones", "gps", "data"):
        path = getattr(args, option, None)
        if path is not None:
            existing_file(path, f"--{option}")


def run(args: argparse.Namespace) -> int:
    """Turn public data into event logs for backtests: NYC taxi trips, Liverpool bus GPS, the fraud handbook."""
    _check_options(args)
    try:
        if args.source == "taxi":
            summary: Any = datasets.taxi_log(
                args.trips or EVENTS / "nyc_tlc_taxi_trips_2019-03_sample.csv",
                args.zones or EVENTS / "nyc_tlc_taxi_zones.csv", args.out, borough=args.borough or None,
                start_minute=args.start_minute, minutes=args.minutes, vehicles=args.vehicles, days=args.days)
        elif args.source == "bus":
            summary = datasets.bus_log(args.gps or EVENTS / "uk_bods_liverpool_bus_route14_gps.csv", args.out,
                                       every=args.every)
        else:
            summary = datasets.fraud_log(args.data, args.out, first_day=args.first_day, last_day=args.last_day)
    except (OSError, ValueError) as error:
        raise UsageError(str(error)) from error
    print(json.dumps({"log": str(args.out), **{k: v for k, v in asdict(summary).items() if k != "header"}},
                     indent=2, default=str))
    return 0


def add_to(commands: Commands) -> None:
    logs = commands.add_parser("logs", help=run.__doc__).add_subparsers(dest="source", required=True)
    taxi = logs.add_parser("taxi", help="NYC taxi pickups as orders, dropoffs as cab positions (zones placed by MDS)")
    taxi.add_argument("--out", type=Path, required=True)
    taxi.add_argument("--trips", type=Path, default=None)
    taxi.add_argument("--zones", type=Path, default=None)
    taxi.add_argument("--borough", default="Manhattan", help="'' for every borough")
    taxi.add_argument("--start-minute", type=int, default=17 * 60, help="window start, minutes after midnight")
    taxi.add_argument("--minutes", type=int, default=30)
    taxi.add_argument("--vehicles", type=int, default=12)
    taxi.add_argument("--days", type=int, default=7, help="March days laid on one day")
    bus = logs.add_parser("bus", help="Liverpool route 14 GPS pings as vehicle positions (synthetic parcel orders)")
    bus.add_argument("--out", type=Path, required=True)
    bus.add_argument("--gps", type=Path, default=None)
    bus.add_argument("--every", type=int, default=10, help="every N-th ping position becomes an order")
    fraud_logs = logs.add_parser("fraud", help="handbook payments and their labels (7 days later)")
    fraud_logs.add_argument("--out", type=Path, required=True)
    fraud_logs.add_argument("--data", type=Path, default=HANDBOOK)
    fraud_logs.add_argument("--first-day", type=int, default=0)
    fraud_logs.add_argument("--last-day", type=int, default=None)
    for command in (taxi, bus, fraud_logs):
        command.set_defaults(run=run)
