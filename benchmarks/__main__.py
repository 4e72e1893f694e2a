"""`python -m benchmarks routes|cycle|instance|ingest|stream|fraud|replay|redis|chaos` (or `engine bench`): JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.cli.errors import UsageError, existing_file
from agents.cli.parsing import HANDBOOK, positive_float, positive_int
from engine.fraud.scorer import FraudScorer, ModelMissingError


def run_routes(args: argparse.Namespace) -> int:
    """Solve Solomon VRPTW instances and compare with the best known costs."""
    from benchmarks.routes import main as bench_routes

    for path in args.instances:
        existing_file(path, "--instances")
    return bench_routes(args.instances, args.seconds, args.json)


def run_stream(args: argparse.Namespace) -> int:
    """Run route cycles on the real pipeline (Kafka, Faust, Redis, llama.cpp) and report deadlines kept."""
    from benchmarks.stream import run_stream_bench

    return run_stream_bench(vehicles=args.vehicles, orders=args.orders, fleets=args.fleets, cycles=args.cycles,
                            cycle_seconds=args.cycle_seconds, model=existing_file(args.model, "--model"),
                            out=args.json)


def run_fraud(args: argparse.Namespace) -> int:
    """Stream the handbook's test days through Kafka, Faust and Redis; detection, latency and throughput."""
    from benchmarks.fraud import run_fraud_bench

    existing_file(args.data, "--data")
    try:
        FraudScorer.load(args.model)
    except ModelMissingError as error:
        raise UsageError(str(error)) from error
    return run_fraud_bench(data=args.data, model=args.model, rate=args.rate, out=args.json, limit=args.limit,
                           workers=args.workers)


def run_replay(args: argparse.Namespace) -> int:
    """Backtest events/s vs parsing the same log; replay records/s vs a bare aiokafka producer."""
    from benchmarks.replay import run_replay_bench

    return run_replay_bench(routes_log=existing_file(args.routes_log, "--routes-log"), handbook=args.data,
                            fraud_days=args.fraud_days, out=args.json)


def run_redis(args: argparse.Namespace) -> int:
    """A fraud worker's Redis writes (terminal-rate hashes, risk entries) with hiredis vs redis-py's parser."""
    from benchmarks.redis_writes import run_redis_bench

    return run_redis_bench(terminals=args.terminals, entries=args.entries, rounds=args.rounds, out=args.json)


def run_ingest(args: argparse.Namespace) -> int:
    """Events/s through the real fleet-state agent at a small and a large fleet, vs a bare Faust agent."""
    from benchmarks.ingest import run_ingest_bench

    if args.small_orders >= args.orders:
        raise UsageError(f"--small-orders ({args.small_orders}) must be below --orders ({args.orders})")
    return run_ingest_bench(orders=args.orders, vehicles=args.vehicles, small_orders=args.small_orders,
                            events=args.events, out=args.json)


def run_cycle(args: argparse.Namespace) -> int:
    """decide() cycle after cycle on static Solomon-format problems vs PyVRP alone; exact feasibility."""
    from benchmarks.cycle import main as bench_cycle

    for path in args.instances:
        existing_file(path, "--instances")
    return bench_cycle(args.instances, args.cycles, args.seconds_pyvrp, args.json, args.stability_cost)


def run_instance(args: argparse.Namespace) -> int:
    """Write a seeded R/C/RC-like VRPTW instance of any size in the Solomon text format."""
    from benchmarks.instances import main as write_instance

    return write_instance(args.customers, args.kind, args.seed, args.out)


def run_chaos(args: argparse.Namespace) -> int:
    """Soak: copy events through real workers while killing them, the broker, Redis and the LLM server."""
    from benchmarks.chaos import run_chaos_bench

    fraud_model = None
    if "payment_kills" in args.scenarios:
        try:
            FraudScorer.load(args.fraud_model)
        except ModelMissingError as error:
            raise UsageError(str(error)) from error
        fraud_model = args.fraud_model
    return run_chaos_bench(scenarios=args.scenarios, rounds=args.rounds, kills=args.kills, orders=args.orders,
                           payments=args.payments, model=existing_file(args.model, "--model"),
                           fraud_model=fraud_model, out=args.json, guarantee=args.guarantee,
                           keep_topics=args.keep_topics)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine bench", description=__doc__)
    bench = parser.add_subparsers(dest="bench", required=True)
    routes = bench.add_parser("routes", help=run_routes.__doc__)
    routes.add_argument("--instances", type=Path, nargs="+", required=True, help="Solomon .txt files")
    routes.add_argument("--seconds", type=positive_float, default=10.0, help="time budget per instance")
    routes.add_argument("--json", type=Path, default=None, help="write the per-instance results here")
    routes.set_defaults(run=run_routes)

    cycle = bench.add_parser("cycle", help=run_cycle.__doc__)
    cycle.add_argument("--instances", type=Path, nargs="+", required=True, help="Solomon-format .txt files")
    cycle.add_argument("--cycles", type=positive_int, default=8, help="decide() runs per instance")
    cycle.add_argument("--seconds-pyvrp", type=positive_float, default=10.0, help="the PyVRP-alone baseline's time")
    cycle.add_argument("--stability-cost", type=float, default=None,
                       help="cost of moving an order to another vehicle (default: ENGINE_ROUTE__STABILITY_COST)")
    cycle.add_argument("--json", type=Path, default=None, help="write the per-instance results and summary here")
    cycle.set_defaults(run=run_cycle)

    instance = bench.add_parser("instance", help=run_instance.__doc__)
    instance.add_argument("--customers", type=positive_int, required=True)
    instance.add_argument("--kind", choices=("r", "c", "rc"), default="rc",
                          help="r: uniform, c: clustered, rc: half each")
    instance.add_argument("--seed", type=int, default=1)
    instance.add_argument("--out", type=Path, required=True, help="the .txt file to write")
    instance.set_defaults(run=run_instance)

    stream = bench.add_parser("stream", help=run_stream.__doc__)
    stream.add_argument("--fleets", type=positive_int, default=1, help="fleets, each with these vehicles and orders")
    stream.add_argument("--vehicles", type=positive_int, default=20)
    stream.add_argument("--orders", type=positive_int, default=200)
    stream.add_argument("--cycles", type=positive_int, default=8)
    stream.add_argument("--cycle-seconds", type=positive_float, default=15.0)
    stream.add_argument("--model", type=Path, default=Path("models/tiny-granite-hybrid-q4_k_m.gguf"))
    stream.add_argument("--json", type=Path, default=None)
    stream.set_defaults(run=run_stream)

    fraud = bench.add_parser("fraud", help=run_fraud.__doc__)
    fraud.add_argument("--data", type=Path, default=HANDBOOK)
    fraud.add_argument("--model", type=Path, default=Path("models/fraud"),
                       help="model folder, or a folder of versions with LATEST (engine fraud train)")
    fraud.add_argument("--rate", type=positive_float, default=1000.0, help="payments per second in the measured phase")
    fraud.add_argument("--limit", type=positive_int, default=None, help="read only the first N payments")
    fraud.add_argument("--workers", type=positive_int, default=1, help="workers in the consumer group")
    fraud.add_argument("--json", type=Path, default=None)
    fraud.set_defaults(run=run_fraud)

    replay = bench.add_parser("replay", help=run_replay.__doc__)
    replay.add_argument("--routes-log", type=Path, default=Path("examples/taxi-sample.log.zst"))
    replay.add_argument("--data", type=Path, default=HANDBOOK, help="the handbook, for the payments log")
    replay.add_argument("--fraud-days", type=positive_int, default=2, help="handbook days in the payments log")
    replay.add_argument("--json", type=Path, default=None)
    replay.set_defaults(run=run_replay)

    ingest = bench.add_parser("ingest", help=run_ingest.__doc__)
    ingest.add_argument("--orders", type=positive_int, default=3000, help="open orders of the large fleet")
    ingest.add_argument("--vehicles", type=positive_int, default=300, help="vehicles of either fleet")
    ingest.add_argument("--small-orders", type=positive_int, default=50, help="open orders of the small fleet")
    ingest.add_argument("--events", type=positive_int, default=20_000, help="measured vehicle updates per size")
    ingest.add_argument("--json", type=Path, default=None)
    ingest.set_defaults(run=run_ingest)

    redis = bench.add_parser("redis", help=run_redis.__doc__)
    redis.add_argument("--terminals", type=positive_int, default=700, help="terminal-rate hashes in one pipeline")
    redis.add_argument("--entries", type=positive_int, default=1000, help="risk entries in one MSET")
    redis.add_argument("--rounds", type=positive_int, default=30, help="timed rounds; the best is reported")
    redis.add_argument("--json", type=Path, default=None)
    redis.set_defaults(run=run_redis)

    add_chaos_parser(bench)
    return parser


def add_chaos_parser(bench: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `bench chaos` options (a soak of the fault scenarios)."""
    from benchmarks.chaos import SCENARIOS

    chaos = bench.add_parser("chaos", help=run_chaos.__doc__)
    chaos.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    chaos.add_argument("--rounds", type=positive_int, default=3, help="times each scenario runs")
    chaos.add_argument("--kills", type=positive_int, default=5, help="worker SIGKILLs per kill scenario")
    chaos.add_argument("--orders", type=positive_int, default=1000, help="orders per fleet (3 fleets) in fleet_kills")
    chaos.add_argument("--payments", type=positive_int, default=20_000, help="payments in payment_kills")
    chaos.add_argument("--model", type=Path, default=Path("models/tiny-granite-hybrid-q4_k_m.gguf"))
    chaos.add_argument("--fraud-model", type=Path, default=Path("models/fraud"),
                       help="fraud model folder (engine fraud train) for payment_kills")
    chaos.add_argument("--guarantee", choices=("at_least_once", "exactly_once"), default="at_least_once",
                       help="ENGINE_PROCESSING_GUARANTEE of the kill scenarios' workers")
    chaos.add_argument("--json", type=Path, default=None)
    chaos.add_argument("--keep-topics", action="store_true",
                       help="leave each round's topics on the broker, to read them afterwards")
    chaos.set_defaults(run=run_chaos)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
