"""The `engine` console script: one parser, one module per command group, one way to report user errors."""

from __future__ import annotations

import argparse
import sys

from agents.cli import (
    backtest,
    bench,
    demo,
    diff,
    fraud,
    llm_check,
    logs,
    plot,
    record,
    replay,
    schema,
    send,
    services,
    worker,
)
from agents.cli.errors import UsageError
from engine.settings import SettingsError

COMMAND_GROUPS = (schema, worker, demo, bench, fraud, llm_check, record, replay, backtest, diff, logs, services,
                  send, plot)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine", description="Streaming real-time decision engine.")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_to(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a settings or usage error prints one line and returns 2."""
    given = sys.argv[1:] if argv is None else argv
    try:
        if given[:1] == ["bench"]:  # everything after `bench`, -h included, is for the benchmarks' own parser
            return bench.forward(given[1:])
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (SettingsError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
