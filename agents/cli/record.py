"""`engine record`: copy topics into a compressed event log."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aiokafka.errors import KafkaError

from agents.cli.errors import UsageError
from agents.cli.parsing import Commands, iso_time, topic_offset
from agents.cli.replay import kafka_failed, quiet_kafka_client_logs
from agents.replay.recorder import RecordRequest, run_record
from engine.settings import load_settings


def run(args: argparse.Namespace) -> int:
    """Copy topics into a compressed event log (by time range or start offsets; Ctrl-C stops cleanly)."""
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder: give the log's file name, e.g. {args.out}/run.log.zst")
    if not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: folder {args.out.parent} does not exist (create it first)")
    if args.since is not None and args.until is not None and args.until < args.since:
        raise UsageError(f"--until {args.until.isoformat()} is before --since {args.since.isoformat()}: nothing "
                         "would be recorded")
    negative = [f"{topic}:{partition}:{offset}" for (topic, partition), offset in args.start
                if partition < 0 or offset < 0]
    if negative:
        raise UsageError(f"--start {negative[0]}: partition and offset must be 0 or more")
    settings = load_settings()
    quiet_kafka_client_logs()
    request = RecordRequest(topics=args.topic, out=args.out, since=args.since, until=args.until,
                            start_offsets=dict(args.start), follow=args.follow)
    try:
        count = run_record(settings, request)
    except ValueError as error:
        args.out.unlink(missing_ok=True)  # nothing was recorded: leave no empty log behind
        raise UsageError(str(error)) from error
    except KafkaError as error:
        raise kafka_failed(settings, error) from error
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
