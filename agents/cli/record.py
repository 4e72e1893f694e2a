"""`engine record`: copy topics into a compressed event log."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agents.cli.errors import UsageError
from agents.cli.parsing import Commands, iso_time, topic_offset
from agents.replay.recorder import RecordRequest, run_record
from engine.settings import load_settings


def run(args: argparse.Namespace) -> int:
    """Copy topics into a compressed event log (by time range or start offsets; Ctrl-C stops cleanly)."""
    if not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: folder {args.out.parent} does not exist (create it first)")
    request = RecordRequest(topics=args.topic, out=args.out, since=args.since, until=args.until,
                            start_offsets=dict(args.start), follow=args.follow)
    try:
        count = run_record(load_settings(), request)
    except ValueError as error:
        raise UsageError(str(error)) from error
    print(json.dumps({"log": str(args.out), "records": count if count >= 0 else "interrupted"}))
    return 0


def add_to(commands: Commands) -> None:
    record = commands.add_parser("record", help=run.__doc__)
    record.add_argument("--topic", action="append", required=True, help="repeatable")
    record.add_argument("--out", type=Path, required=True, help="the log file, e.g. run.log.zst")
    record.add_argument("--since", type=iso_time, default=None, help="first record time (ISO, with zone)")
    record.add_argument("--until", type=iso_time, default=None, help="last record time (ISO, with zone)")
    record.add_argument("--start", type=topic_offset, action="append", default=[], metavar="TOPIC:PARTITION:OFFSET")
    record.add_argument("--follow", action="store_true", help="keep recording new records until Ctrl-C")
    record.set_defaults(run=run)
