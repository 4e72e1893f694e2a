"""`engine replay`: publish an event log back into Kafka."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from agents.cli.errors import UsageError, existing_file
from agents.cli.parsing import Commands, positive_float, rename
from agents.replay.replayer import ReplayRequest, replay
from engine.replay.event_log import TruncatedLogError
from engine.settings import load_settings


def run(args: argparse.Namespace) -> int:
    """Publish an event log back into Kafka, paced by its timestamps or as fast as possible; resumable."""
    request = ReplayRequest(log=existing_file(args.log), speed=None if args.fast else args.speed,
                            rename=dict(args.rename), shift_to_now=args.shift_to_now,
                            keep_partitions=args.keep_partitions, progress_file=args.progress_file,
                            allow_truncated=args.allow_truncated)
    try:
        result = asyncio.run(replay(load_settings(), request))
    except (TruncatedLogError, ValueError) as error:
        raise UsageError(str(error)) from error
    print(json.dumps({"sent": result.sent, "skipped_as_already_sent": result.skipped,
                      "seconds": round(result.seconds, 2)}))
    return 0


def add_to(commands: Commands) -> None:
    replay_cmd = commands.add_parser("replay", help=run.__doc__)
    replay_cmd.add_argument("log", type=Path)
    pace = replay_cmd.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=positive_float, default=1.0, help="x original pace (default 1)")
    pace.add_argument("--fast", action="store_true", help="as fast as possible")
    replay_cmd.add_argument("--rename", type=rename, action="append", default=[], metavar="OLD=NEW")
    replay_cmd.add_argument("--shift-to-now", action="store_true", help="first record gets the current time")
    replay_cmd.add_argument("--keep-partitions", action="store_true", help="recorded partition instead of key's")
    replay_cmd.add_argument("--progress-file", type=Path, default=None, help="resume from here; updated as it goes")
    replay_cmd.add_argument("--allow-truncated", action="store_true", help="replay an interrupted recording's part")
    replay_cmd.set_defaults(run=run)
