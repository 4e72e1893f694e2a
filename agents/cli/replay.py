"""`engine replay`: publish an event log back into Kafka."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from aiokafka.errors import KafkaError

from agents.cli.errors import UsageError, existing_file
from agents.cli.parsing import Commands, positive_float, rename
from agents.replay.replayer import ReplayRefusedError, ReplayRequest, ReplayResult, replay
from engine.replay.event_log import TruncatedLogError, read_header
from engine.settings import Settings, load_settings


def _check_paths(args: argparse.Namespace) -> None:
    """The log, the progress file and the renames, refused up front when they cannot work."""
    existing_file(args.log)
    if args.progress_file is not None:
        if args.progress_file.is_dir():
            raise UsageError(f"--progress-file {args.progress_file} is a folder, not a file")
        if not args.progress_file.parent.is_dir():
            raise UsageError(f"--progress-file {args.progress_file}: folder {args.progress_file.parent} does not "
                             "exist (create it first)")
    try:
        header = read_header(args.log)
    except TruncatedLogError as error:
        if not args.allow_truncated:
            raise UsageError(f"{error} (--allow-truncated replays what it holds)") from error
        header = {}
    except ValueError as error:
        raise UsageError(str(error)) from error
    recorded = header.get("topics")
    if isinstance(recorded, list):
        unknown = sorted(old for old, _ in args.rename if old not in recorded)
        if unknown:
            raise UsageError(f"--rename {', '.join(unknown)}: not a topic of {args.log} (it holds "
                             f"{', '.join(map(str, recorded))})")


def _report(result: ReplayResult) -> str:
    return json.dumps({"sent": result.sent, "skipped_as_already_sent": result.skipped,
                       "refused": result.refused, "seconds": round(result.seconds, 2)})


def _note_shift(result: ReplayResult) -> None:
    limits = result.future_limit
    if result.shifted_back_s > 0 and limits is not None:
        retention = limits.retention_ms
        old = (f"; the first records are older than the topic's retention.ms ({retention / 3_600_000:g} h): Kafka "
               "deletes a segment once its newest record is that old" if retention is not None
               and result.shifted_back_s * 1000 > retention else "")
        print(f"note: --fast --shift-to-now: stamps start {result.shifted_back_s / 3600:.2f} h before now, so none "
              f"lies more than {limits.future_ms / 3_600_000:g} h ahead ({limits.source}){old}; for stamps from now "
              "on, replay with --speed (stamps then follow the clock) or raise the topic's "
              "message.timestamp.after.max.ms", file=sys.stderr)


def kafka_failed(settings: Settings, error: KafkaError) -> UsageError:
    """The one-line error for a broker that cannot be reached (or answers with an error), naming the fix."""
    servers = ",".join(settings.kafka.bootstrap_servers)
    return UsageError(f"Kafka at {servers} failed ({error}): is it running (engine services start), and is "
                      "ENGINE_KAFKA__BOOTSTRAP_SERVERS right?")


def quiet_kafka_client_logs() -> None:
    """Failures reach the user as one `error:` line; aiokafka's own log lines (retries, new topics) stay out."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def run(args: argparse.Namespace) -> int:
    """Publish an event log back into Kafka, paced by its timestamps or as fast as possible; resumable."""
    _check_paths(args)
    settings = load_settings()
    quiet_kafka_client_logs()
    request = ReplayRequest(log=args.log, speed=None if args.fast else args.speed,
                            rename=dict(args.rename), shift_to_now=args.shift_to_now,
                            keep_partitions=args.keep_partitions, progress_file=args.progress_file,
                            allow_truncated=args.allow_truncated)
    try:
        result = asyncio.run(replay(settings, request))
    except ReplayRefusedError as refused:  # not a usage error: what was acknowledged is reported, exit 1
        print(_report(refused.result))
        print(f"error: {refused}", file=sys.stderr)
        return 1
    except TruncatedLogError as error:
        raise UsageError(f"{error} (--allow-truncated replays what it holds)") from error
    except ValueError as error:
        raise UsageError(str(error)) from error
    except KafkaError as error:
        raise kafka_failed(settings, error) from error
    _note_shift(result)
    print(_report(result))
    return 0


def add_to(commands: Commands) -> None:
    replay_cmd = commands.add_parser("replay", help=run.__doc__)
    replay_cmd.add_argument("log", type=Path)
    pace = replay_cmd.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=positive_float, default=1.0, help="x original pace (default 1)")
    pace.add_argument("--fast", action="store_true", help="as fast as possible")
    replay_cmd.add_argument("--rename", type=rename, action="append", default=[], metavar="OLD=NEW")
    replay_cmd.add_argument("--shift-to-now", action="store_true",
                            help="restamp from now, spacing kept; never further ahead than the broker accepts")
    replay_cmd.add_argument("--keep-partitions", action="store_true", help="recorded partition instead of key's")
    replay_cmd.add_argument("--progress-file", type=Path, default=None, help="resume from here; updated as it goes")
    replay_cmd.add_argument("--allow-truncated", action="store_true", help="replay an interrupted recording's part")
    replay_cmd.set_defaults(run=run)
