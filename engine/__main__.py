"""`python -m engine ...`: the command line (the one place in engine/ that reaches into agents/, lazily)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.settings import SettingsError, load_settings

HANDBOOK = Path("../shared/data/fraud/handbook_sim_2018-04-01_to_2018-04-28.csv")


def cmd_schema(args: argparse.Namespace) -> int:
    """Write one JSON Schema file per wire model."""
    from schemas import WIRE_MODELS

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, model in WIRE_MODELS.items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n")
        print(path)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the Faust worker until stopped."""
    from agents.worker import run_worker
    from engine.fraud.scorer import ModelMissingError

    try:
        run_worker(load_settings())
    except ModelMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Start services if needed, run a worker and feed it a synthetic fleet stream."""
    from agents.demo import run_demo

    code: int = run_demo(load_settings(), duration_s=args.duration, fleets=args.fleets, rate=args.rate)
    return code


def cmd_llm_check(args: argparse.Namespace) -> int:
    """Load the configured model and ask it one grammar-constrained question."""
    from engine.llm import LlmUnavailableError, ModelLoadError
    from engine.llm.factory import PROBE_PROMPT, PROBE_SCHEMA, open_language_model

    settings = load_settings()
    try:
        model = open_language_model(settings.llm)
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        completion = model.complete_json(PROBE_PROMPT, PROBE_SCHEMA, max_tokens=128)
    except LlmUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    json.loads(completion.text)  # the grammar guarantees JSON; fail loudly if it ever does not
    print(json.dumps({"model": completion.model, "path": str(settings.llm.model_path), "answer": completion.text,
                      "prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
                      "seconds": round(completion.seconds, 3)}, indent=2))
    return 0


def cmd_bench_routes(args: argparse.Namespace) -> int:
    """Solve Solomon VRPTW instances and compare with the best known costs."""
    from engine.bench_routes import main as bench_routes

    return bench_routes(args.instances, args.seconds, args.json)


def cmd_bench_stream(args: argparse.Namespace) -> int:
    """Run route cycles on the real pipeline (Kafka, Faust, Redis, llama.cpp) and report deadlines kept."""
    from agents.bench_stream import run_stream_bench

    return run_stream_bench(vehicles=args.vehicles, orders=args.orders, cycles=args.cycles,
                            cycle_seconds=args.cycle_seconds, model=args.model, out=args.json)


def cmd_bench_fraud(args: argparse.Namespace) -> int:
    """Stream the handbook's test days through Kafka, Faust and Redis; detection, latency and throughput."""
    from agents.bench_fraud import run_fraud_bench
    from engine.fraud.scorer import FraudScorer, ModelMissingError

    if not args.data.is_file():
        print(f"error: --data {args.data} does not exist", file=sys.stderr)
        return 2
    try:
        FraudScorer.load(args.model)
    except ModelMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return run_fraud_bench(data=args.data, model=args.model, rate=args.rate, out=args.json, limit=args.limit)


def cmd_bench_replay(args: argparse.Namespace) -> int:
    """Backtest events/s vs parsing the same log; replay records/s vs a bare aiokafka producer."""
    from agents.bench_replay import run_replay_bench

    if not args.routes_log.is_file():
        print(f"error: {args.routes_log} does not exist", file=sys.stderr)
        return 2
    return run_replay_bench(routes_log=args.routes_log, handbook=args.data, fraud_days=args.fraud_days, out=args.json)


def cmd_fraud_block(args: argparse.Namespace) -> int:
    """Add ids to (or --remove them from) the Redis block lists; with no ids, print the lists."""
    import asyncio

    from agents.risk_store import RiskStore

    settings = load_settings()

    async def run() -> dict[str, list[str]]:
        store = RiskStore(str(settings.redis_url), settings.redis_prefix)
        try:
            change = store.unblock if args.remove else store.block
            for entity_id in args.customer:
                await change("customer", entity_id)
            for entity_id in args.terminal:
                await change("terminal", entity_id)
            lists = await store.block_lists()
        finally:
            await store.close()
        return {"customers": sorted(lists.customers), "terminals": sorted(lists.terminals)}

    print(json.dumps(asyncio.run(run()), indent=2))
    return 0


def cmd_fraud_risk(args: argparse.Namespace) -> int:
    """Print the latest risk of a customer or a terminal as an authoriser reads it from Redis."""
    import asyncio

    from agents.risk_store import RiskStore

    settings = load_settings()

    async def run() -> object:
        store = RiskStore(str(settings.redis_url), settings.redis_prefix)
        try:
            if args.customer:
                return await store.customer_risk(args.customer)
            return await store.terminal_risk(args.terminal)
        finally:
            await store.close()

    print(json.dumps(asyncio.run(run()), indent=2))
    return 0


def cmd_fraud_train(args: argparse.Namespace) -> int:
    """Train the fraud scorer with a time split and print its metrics against the rules baseline."""
    from engine.fraud.training import main as train

    if not args.data.is_file():
        print(f"error: --data {args.data} does not exist", file=sys.stderr)
        return 2
    return train(args.data, args.out, args.limit)


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone (e.g. 2026-03-02T08:00:00Z)")
    return value


def _parse_start(text: str) -> tuple[tuple[str, int], int]:
    try:
        topic, partition, offset = text.rsplit(":", 2)
        return (topic, int(partition)), int(offset)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not TOPIC:PARTITION:OFFSET") from None


def _parse_rename(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"{text!r} is not OLD=NEW")
    return old, new


def cmd_record(args: argparse.Namespace) -> int:
    """Copy topics into a compressed event log (by time range or start offsets; Ctrl-C stops cleanly)."""
    from agents.recorder import RecordRequest, run_record

    request = RecordRequest(topics=args.topic, out=args.out, since=args.since, until=args.until,
                            start_offsets=dict(args.start), follow=args.follow)
    try:
        count = run_record(load_settings(), request)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"log": str(args.out), "records": count if count >= 0 else "interrupted"}))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Publish an event log back into Kafka, paced by its timestamps or as fast as possible; resumable."""
    import asyncio

    from agents.replayer import ReplayRequest, replay
    from engine.replay.event_log import TruncatedLogError

    if not args.log.is_file():
        print(f"error: {args.log} does not exist", file=sys.stderr)
        return 2
    request = ReplayRequest(log=args.log, speed=None if args.fast else args.speed, rename=dict(args.rename),
                            shift_to_now=args.shift_to_now, keep_partitions=args.keep_partitions,
                            progress_file=args.progress_file, allow_truncated=args.allow_truncated)
    try:
        result = asyncio.run(replay(load_settings(), request))
    except (TruncatedLogError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"sent": result.sent, "skipped_as_already_sent": result.skipped,
                      "seconds": round(result.seconds, 2)}))
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """Run the decision core offline over a recorded log on event time; decisions as JSON lines (no Kafka)."""
    from engine.fraud.scorer import ModelMissingError
    from engine.llm import ModelLoadError
    from engine.llm.answer_cache import AnswerCache, FileAnswerCache
    from engine.replay.backtest import run_backtest
    from engine.replay.event_log import TruncatedLogError

    settings = load_settings()
    if not args.log.is_file():
        print(f"error: {args.log} does not exist", file=sys.stderr)
        return 2
    if args.speed_kmh is not None and not 0 < args.speed_kmh <= 200:
        print("error: --speed-kmh must be in (0, 200]", file=sys.stderr)
        return 2
    cache: AnswerCache | None = None
    cache_name = args.llm_cache or str(args.log) + ".answers.jsonl"
    if args.llm != "none":
        if cache_name == "redis":
            from agents.answer_store import RedisAnswerCache

            cache = RedisAnswerCache(str(settings.redis_url), settings.redis_prefix, settings.llm.answer_cache_ttl_s)
        else:
            try:
                cache = FileAnswerCache(Path(cache_name))
            except ValueError as error:
                print(f"error: LLM answer cache {error}", file=sys.stderr)
                return 2
    try:
        run = run_backtest(settings, args.log, args.out, cache=cache, ask_model=args.llm == "model",
                           reproduce=args.reproduce, strict=not args.allow_truncated, speed_kmh=args.speed_kmh)
    except (TruncatedLogError, ModelMissingError, ModelLoadError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    events = run.summary.events
    print(json.dumps({"out": str(args.out), **run.summary.as_dict(), "llm_cache": None if cache is None else cache_name,
                      "llm_cache_hits": run.llm_hits, "llm_cache_misses": run.llm_misses,
                      "seconds": round(run.seconds, 2), "events_per_s": round(events / max(run.seconds, 1e-9), 1)},
                     indent=2))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """Compare two backtests: a table of totals, a PNG of cost and unassigned per cycle (exit 1 if they differ)."""
    from rich.console import Console
    from rich.table import Table

    from engine.replay.backtest_diff import BacktestDiff, BacktestResult

    try:
        diff = BacktestDiff(BacktestResult.read(args.a), BacktestResult.read(args.b))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = diff.report()
    table = Table(title=f"A = {args.a}   B = {args.b}")
    for column in ("", "A", "B", "B - A"):
        table.add_column(column, justify="right" if column else "left")
    for name, value_a in report["totals_a"].items():
        delta = report["delta"].get(name)
        table.add_row(name, f"{value_a:g}", f"{report['totals_b'].get(name, float('nan')):g}",
                      "" if delta is None else f"{delta:+g}")
    console = Console()
    console.print(table)
    plot = diff.plot(args.plot or args.b.with_name(args.b.name + ".diff.png"))
    counts = {k: report[k] for k in ("cycles_compared", "cycles_only_in_a", "cycles_only_in_b", "plans_changed",
                                     "cost_better_in_b", "cost_worse_in_b", "fraud_scores_changed", "identical")}
    console.print(json.dumps({**counts, "plot": str(plot)}))
    if args.json is not None:
        args.json.write_text(json.dumps({**report, "per_cycle": diff.per_cycle(), "plot": str(plot)}, indent=2) + "\n")
    return 0 if report["identical"] else 1


def cmd_logs(args: argparse.Namespace) -> int:
    """Turn public data into event logs for backtests: NYC taxi trips, Liverpool bus GPS, the fraud handbook."""
    from dataclasses import asdict

    from engine.replay import datasets

    events = Path("../shared/data/events")
    try:
        if args.source == "taxi":
            summary: Any = datasets.taxi_log(
                args.trips or events / "nyc_tlc_taxi_trips_2019-03_sample.csv",
                args.zones or events / "nyc_tlc_taxi_zones.csv", args.out, borough=args.borough or None,
                start_minute=args.start_minute, minutes=args.minutes, vehicles=args.vehicles, days=args.days)
        elif args.source == "bus":
            summary = datasets.bus_log(args.gps or events / "uk_bods_liverpool_bus_route14_gps.csv", args.out,
                                       every=args.every)
        else:
            summary = datasets.fraud_log(args.data, args.out, first_day=args.first_day, last_day=args.last_day)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"log": str(args.out), **{k: v for k, v in asdict(summary).items() if k != "header"}},
                     indent=2, default=str))
    return 0


def cmd_services(args: argparse.Namespace) -> int:
    """Start, stop or show the local Kafka and Redis."""
    from devstack.__main__ import main as devstack_main

    return devstack_main([args.action])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Streaming real-time decision engine.")
    commands = parser.add_subparsers(dest="command", required=True)

    schema = commands.add_parser("schema", help=cmd_schema.__doc__)
    schema.add_argument("--out", type=Path, required=True, help="folder for the *.schema.json files")
    schema.set_defaults(run=cmd_schema)

    worker = commands.add_parser("worker", help=cmd_worker.__doc__)
    worker.set_defaults(run=cmd_worker)

    demo = commands.add_parser("demo", help=cmd_demo.__doc__)
    demo.add_argument("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
    demo.add_argument("--fleets", type=int, default=2, help="number of synthetic fleets")
    demo.add_argument("--rate", type=float, default=20.0, help="at most this many events per second")
    demo.set_defaults(run=cmd_demo)

    bench = commands.add_parser("bench", help="benchmarks that print JSON").add_subparsers(dest="bench", required=True)
    routes = bench.add_parser("routes", help=cmd_bench_routes.__doc__)
    routes.add_argument("--instances", type=Path, nargs="+", required=True, help="Solomon .txt files")
    routes.add_argument("--seconds", type=float, default=10.0, help="time budget per instance")
    routes.add_argument("--json", type=Path, default=None, help="write the per-instance results here")
    routes.set_defaults(run=cmd_bench_routes)
    stream = bench.add_parser("stream", help=cmd_bench_stream.__doc__)
    stream.add_argument("--vehicles", type=int, default=20)
    stream.add_argument("--orders", type=int, default=200)
    stream.add_argument("--cycles", type=int, default=8)
    stream.add_argument("--cycle-seconds", type=float, default=15.0)
    stream.add_argument("--model", type=Path, default=Path("models/tiny-granite-hybrid-q4_k_m.gguf"))
    stream.add_argument("--json", type=Path, default=None)
    stream.set_defaults(run=cmd_bench_stream)
    bench_fraud = bench.add_parser("fraud", help=cmd_bench_fraud.__doc__)
    bench_fraud.add_argument("--data", type=Path, default=HANDBOOK)
    bench_fraud.add_argument("--model", type=Path, default=Path("models/fraud"),
                             help="model folder, or a folder of versions with LATEST (python -m engine fraud train)")
    bench_fraud.add_argument("--rate", type=float, default=1000.0, help="payments per second in the measured phase")
    bench_fraud.add_argument("--limit", type=int, default=None, help="read only the first N payments")
    bench_fraud.add_argument("--json", type=Path, default=None)
    bench_fraud.set_defaults(run=cmd_bench_fraud)

    bench_replay = bench.add_parser("replay", help=cmd_bench_replay.__doc__)
    bench_replay.add_argument("--routes-log", type=Path, default=Path("examples/taxi-sample.log.zst"))
    bench_replay.add_argument("--data", type=Path, default=HANDBOOK, help="the handbook, for the payments log")
    bench_replay.add_argument("--fraud-days", type=int, default=2, help="handbook days in the payments log")
    bench_replay.add_argument("--json", type=Path, default=None)
    bench_replay.set_defaults(run=cmd_bench_replay)

    fraud = commands.add_parser("fraud", help="fraud scoring").add_subparsers(dest="fraud", required=True)
    train = fraud.add_parser("train", help=cmd_fraud_train.__doc__)
    train.add_argument("--data", type=Path, default=HANDBOOK)
    train.add_argument("--out", type=Path, default=Path("models/fraud"), help="folder for versioned models")
    train.add_argument("--limit", type=int, default=None, help="read only the first N transactions")
    train.set_defaults(run=cmd_fraud_train)

    block = fraud.add_parser("block", help=cmd_fraud_block.__doc__)
    block.add_argument("--customer", action="append", default=[], metavar="ID", help="repeatable")
    block.add_argument("--terminal", action="append", default=[], metavar="ID", help="repeatable")
    block.add_argument("--remove", action="store_true", help="take the ids off the lists instead")
    block.set_defaults(run=cmd_fraud_block)
    risk = fraud.add_parser("risk", help=cmd_fraud_risk.__doc__)
    who = risk.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", metavar="ID")
    who.add_argument("--terminal", metavar="ID")
    risk.set_defaults(run=cmd_fraud_risk)

    llm_check = commands.add_parser("llm-check", help=cmd_llm_check.__doc__)
    llm_check.set_defaults(run=cmd_llm_check)

    record = commands.add_parser("record", help=cmd_record.__doc__)
    record.add_argument("--topic", action="append", required=True, help="repeatable")
    record.add_argument("--out", type=Path, required=True, help="the log file, e.g. run.log.zst")
    record.add_argument("--since", type=_parse_time, default=None, help="first record time (ISO, with zone)")
    record.add_argument("--until", type=_parse_time, default=None, help="last record time (ISO, with zone)")
    record.add_argument("--start", type=_parse_start, action="append", default=[], metavar="TOPIC:PARTITION:OFFSET")
    record.add_argument("--follow", action="store_true", help="keep recording new records until Ctrl-C")
    record.set_defaults(run=cmd_record)

    replay = commands.add_parser("replay", help=cmd_replay.__doc__)
    replay.add_argument("log", type=Path)
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="x original pace (default 1)")
    pace.add_argument("--fast", action="store_true", help="as fast as possible")
    replay.add_argument("--rename", type=_parse_rename, action="append", default=[], metavar="OLD=NEW")
    replay.add_argument("--shift-to-now", action="store_true", help="first record gets the current time")
    replay.add_argument("--keep-partitions", action="store_true", help="recorded partition instead of key's")
    replay.add_argument("--progress-file", type=Path, default=None, help="resume from here; updated as it goes")
    replay.add_argument("--allow-truncated", action="store_true", help="replay an interrupted recording's part")
    replay.set_defaults(run=cmd_replay)

    backtest = commands.add_parser("backtest", help=cmd_backtest.__doc__)
    backtest.add_argument("log", type=Path, help="an event log (python -m engine record, or examples/*.log.zst)")
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
    backtest.set_defaults(run=cmd_backtest)

    diff = commands.add_parser("diff", help=cmd_diff.__doc__)
    diff.add_argument("a", type=Path, help="a backtest's decisions file (the baseline)")
    diff.add_argument("b", type=Path, help="another backtest's decisions file (the candidate)")
    diff.add_argument("--plot", type=Path, default=None, help="the PNG (default: B.diff.png)")
    diff.add_argument("--json", type=Path, default=None, help="also write the full report, per cycle, here")
    diff.set_defaults(run=cmd_diff)

    logs = commands.add_parser("logs", help=cmd_logs.__doc__).add_subparsers(dest="source", required=True)
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
        command.set_defaults(run=cmd_logs)

    services = commands.add_parser("services", help=cmd_services.__doc__)
    services.add_argument("action", choices=["start", "stop", "status", "logs"])
    services.set_defaults(run=cmd_services)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
