"""`engine demo`: local services, a worker and a synthetic fleet stream, shown live."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

import redis

from agents.cli.errors import UsageError
from agents.cli.parsing import Commands
from agents.demo.demo import run_demo
from agents.demo.reset import WHAT_IS_KEPT, WHAT_IS_RESET, reset_run
from agents.demo.simulator import MAX_FLEETS, check_run_id, new_run_id
from engine.settings import load_settings

MAX_RATE = 1000.0  # events per second: the feed sleeps 1/rate between sends, finer than that is not kept
MAX_DURATION_S = 7 * 86_400.0  # longer is "until Ctrl-C" (leave --duration out)
DEFAULT_FLEETS, DEFAULT_RATE = 2, 20.0


def _bounded(kind: type[int] | type[float], low: float, high: float, unit: str = "") -> Callable[[str], float]:
    """An argparse type: a number with low < value (floats) or low <= value (ints), and value <= high."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
        too_low = value < low if kind is int else not value > low
        if too_low or not value <= high:
            lowest = f"at least {low:g}" if kind is int else f"greater than {low:g}"
            raise argparse.ArgumentTypeError(f"{text!r} must be {lowest} and at most {high:g}{unit}")
        return value

    return parse


def run_id(text: str) -> str:
    try:
        return check_run_id(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    """Start services if needed, run a worker and feed it a synthetic fleet stream (fleets named per run)."""
    if args.reset:
        return run_reset(args)
    settings = load_settings()
    fleets = DEFAULT_FLEETS if args.fleets is None else args.fleets
    rate = DEFAULT_RATE if args.rate is None else args.rate
    code: int = run_demo(settings, duration_s=args.duration, fleets=fleets, rate=rate,
                         run_id=args.run_id or new_run_id())
    return code


def run_reset(args: argparse.Namespace) -> int:
    """`demo --run-id ID --reset`: delete that run's fleets' Redis keys, say what is and is not reset."""
    if args.run_id is None:
        raise UsageError("--reset needs --run-id ID (the run whose fleets to reset; a demo prints its run id)")
    given = [option for option, value in (("--duration", args.duration), ("--fleets", args.fleets),
                                          ("--rate", args.rate)) if value is not None]
    if given:
        raise UsageError(f"--reset only deletes a run's state and starts nothing: drop {', '.join(given)}")
    settings = load_settings()
    try:
        report = reset_run(settings, args.run_id)
    except redis.RedisError as error:
        raise UsageError(f"Redis at {settings.redis_url} does not answer ({error}): start it (engine services "
                         "start) or set ENGINE_REDIS_URL") from error
    except ValueError as error:
        raise UsageError(str(error)) from error
    prefix = settings.redis_prefix
    fleets = ", ".join(report.fleets) or "none had any"
    print(f"run {args.run_id}: deleted {report.deleted} Redis key(s) of fleets {fleets}: "
          f"{WHAT_IS_RESET.format(prefix=prefix)}")
    print(WHAT_IS_KEPT)
    return 0


def _one_line_error(message: str) -> NoReturn:
    """argparse's error without the usage block: every refused option is one line, exit 2, before anything runs."""
    print(f"error: demo: {message} (engine demo -h lists the options)", file=sys.stderr)
    raise SystemExit(2)


def add_to(commands: Commands) -> None:
    demo = commands.add_parser("demo", help=run.__doc__)
    demo.error = _one_line_error
    demo.add_argument("--duration", type=_bounded(float, 0, MAX_DURATION_S, " s"), default=None,
                      help="seconds to run (default: until Ctrl-C)")
    demo.add_argument("--fleets", type=_bounded(int, 1, MAX_FLEETS), default=None,
                      help=f"number of synthetic fleets, 1 to {MAX_FLEETS} (default {DEFAULT_FLEETS})")
    demo.add_argument("--rate", type=_bounded(float, 0, MAX_RATE, " events/s"), default=None,
                      help=f"at most this many events per second, up to {MAX_RATE:g} (default {DEFAULT_RATE:g})")
    demo.add_argument("--run-id", type=run_id, default=None, metavar="ID",
                      help="names this run's fleets NAME-ID (north-ID, south-ID, ...); default: a fresh id per "
                           "run, so no run sees another's plans or orders")
    demo.add_argument("--reset", action="store_true",
                      help="with --run-id: delete that run's fleets' Redis keys (plans, next stops, summaries) "
                           "and exit; Kafka topics and the worker's table are left as they are")
    demo.set_defaults(run=run)
