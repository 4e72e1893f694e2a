"""`engine backtest`: the decision core offline over a recorded log, on event time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import redis

from agents.cli.errors import UsageError, existing_file
from agents.cli.parsing import Commands
from agents.llm.answer_store import RedisAnswerCache
from engine.fraud.scorer import ModelMissingError
from engine.llm import ModelLoadError
from engine.llm.answer_cache import AnswerCache, FileAnswerCache
from engine.replay.backtest import run_backtest
from engine.replay.backtest_plot import draw_backtest
from engine.replay.backtest_series import read_series
from engine.replay.event_log import TruncatedLogError
from engine.settings import Settings, load_settings


def _answer_cache(settings: Settings, args: argparse.Namespace) -> tuple[AnswerCache | None, str]:
    """The LLM answer cache the options name (None with --llm none) and its name for the report."""
    name = args.llm_cache or str(args.log) + ".answers.jsonl"
    if args.llm == "none":
        return None, name
    if name == "redis":
        cache = RedisAnswerCache(str(settings.redis_url), settings.redis_prefix, settings.llm.answer_cache_ttl_s)
        try:
            cache.get("reachable?")
        except redis.RedisError as error:
            raise UsageError(f"--llm-cache redis: Redis at {settings.redis_url} does not answer ({error}): start it "
                             "(engine services start) or set ENGINE_REDIS_URL") from error
        return cache, name
    path = Path(name)
    if path.is_dir():
        raise UsageError(f"--llm-cache {path} is a folder, not a JSON-lines file")
    if not path.parent.is_dir():
        raise UsageError(f"--llm-cache {path}: folder {path.parent} does not exist (create it first)")
    try:
        return FileAnswerCache(path), name
    except UnicodeDecodeError as error:
        raise UsageError(f"LLM answer cache {path} is not a JSON-lines text file ({error.reason})") from error
    except (OSError, ValueError) as error:
        raise UsageError(f"LLM answer cache {error}") from error


def _check_plot(args: argparse.Namespace) -> None:
    """--plot refused up front (before the backtest runs) when the PNG cannot be written there."""
    plot: Path | None = args.plot
    if plot is None:
        return
    if plot.is_dir():
        raise UsageError(f"--plot {plot} is a folder: give the PNG's file name, e.g. {plot / 'backtest.png'}")
    if not plot.parent.is_dir():
        raise UsageError(f"--plot {plot}: folder {plot.parent} does not exist (create it first)")
    if plot.suffix.lower() != ".png":
        raise UsageError(f"--plot {plot}: the plot is a PNG, give a name ending in .png")
    if plot.resolve() in (args.log.resolve(), args.out.resolve()):
        raise UsageError(f"--plot {plot} is the {'log' if plot.resolve() == args.log.resolve() else '--out file'} "
                         "itself: give the PNG another name")


def run(args: argparse.Namespace) -> int:
    """Run the decision core offline over a recorded log on event time; decisions as JSON lines (no Kafka)."""
    settings = load_settings()
    existing_file(args.log)
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder: give the decisions file's name, e.g. {args.out}/out.jsonl")
    if not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: folder {args.out.parent} does not exist (create it first)")
    if args.out.resolve() == args.log.resolve():
        raise UsageError(f"--out {args.out} is the log itself: write the decisions to another file")
    if args.speed_kmh is not None and not 0 < args.speed_kmh <= 200:
        raise UsageError("--speed-kmh must be in (0, 200]")
    _check_plot(args)
    cache, cache_name = _answer_cache(settings, args)
    try:
        result = run_backtest(settings, args.log, args.out, cache=cache, ask_model=args.llm == "model",
                              reproduce=args.reproduce, strict=not args.allow_truncated, speed_kmh=args.speed_kmh)
    except TruncatedLogError as error:
        raise UsageError(f"{error} (--allow-truncated backtests what it holds)") from error
    except (ModelMissingError, ModelLoadError, ValueError) as error:  # also MissingTopicError: names the topic
        raise UsageError(str(error)) from error
    except redis.RedisError as error:
        raise UsageError(f"--llm-cache redis: Redis at {settings.redis_url} stopped answering ({error})") from error
    if result.summary.late_records:
        print(f"warning: {result.summary.late_records} record(s) came after a cycle later than their own timestamp "
              f"(the log is out of time order by more than the merge's lookahead): those cycles decided without "
              "them; re-record the topics with `engine record` (it writes them merged)", file=sys.stderr)
    events = result.summary.events
    plot = {} if args.plot is None else {"plot": str(draw_backtest(read_series(args.out), args.plot, args.log.name))}
    print(json.dumps({"out": str(args.out), **plot, **result.summary.as_dict(),
                      "llm_cache": None if cache is None else cache_name,
                      "llm_cache_hits": result.llm_hits, "llm_cache_misses": result.llm_misses,
                      "seconds": round(result.seconds, 2),
                      "events_per_s": round(events / max(result.seconds, 1e-9), 1)}, indent=2))
    return 0


def add_to(commands: Commands) -> None:
    backtest = commands.add_parser("backtest", help=run.__doc__)
    backtest.add_argument("log", type=Path, help="an event log (engine record, or examples/*.log.zst)")
    backtest.add_argument("--out", type=Path, required=True, help="the decisions file (JSON lines)")
    backtest.add_argument("--llm", choices=["model", "cache", "none"], default="model",
                          help="model: cached answers, the configured model on a miss (default); cache: cached "
                               "answers only, a miss means no LLM proposal; none: decide without the LLM")
    backtest.add_argument("--llm-cache", default=None, metavar="FILE|redis",
                          help="answers by request hash: a JSON-lines file (default LOG.answers.jsonl) or "
                               "`redis` (what the live worker kept)")
    backtest.add_argument("--reproduce", action="store_true",
                          help="decide at the cycles recorded on the log's decisions topic, on the inputs each "
                               "had applied (reproduces a live run)")
    backtest.add_argument("--speed-kmh", type=float, default=None, help="travel speed (default: the log's, "
                          "else ENGINE_ROUTE__SPEED_KMH)")
    backtest.add_argument("--allow-truncated", action="store_true", help="backtest an interrupted recording's part")
    backtest.add_argument("--plot", type=Path, default=None, metavar="OUT.png",
                          help="also draw per fleet, over event time, plan cost, unassigned orders and LLM "
                               "acceptance (running share of cycles whose plan came from the LLM, proposed or "
                               "repaired) into this PNG")
    backtest.set_defaults(run=run)
