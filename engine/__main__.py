"""`python -m engine ...`: the command line (the one place in engine/ that reaches into agents/, lazily)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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


def cmd_fraud_train(args: argparse.Namespace) -> int:
    """Train the fraud scorer with a time split and print its metrics against the rules baseline."""
    from engine.fraud.training import main as train

    if not args.data.is_file():
        print(f"error: --data {args.data} does not exist", file=sys.stderr)
        return 2
    return train(args.data, args.out, args.limit)


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

    fraud = commands.add_parser("fraud", help="fraud scoring").add_subparsers(dest="fraud", required=True)
    train = fraud.add_parser("train", help=cmd_fraud_train.__doc__)
    train.add_argument("--data", type=Path, default=HANDBOOK)
    train.add_argument("--out", type=Path, default=Path("models/fraud"), help="folder for versioned models")
    train.add_argument("--limit", type=int, default=None, help="read only the first N transactions")
    train.set_defaults(run=cmd_fraud_train)

    llm_check = commands.add_parser("llm-check", help=cmd_llm_check.__doc__)
    llm_check.set_defaults(run=cmd_llm_check)

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
