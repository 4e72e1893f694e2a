"""`engine fraud train|block|risk`: train the scorer, edit the block lists, read a risk as an authoriser does."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from agents.cli import fraud_report
from agents.cli.errors import UsageError, existing_file
from agents.cli.parsing import HANDBOOK, Commands, positive_int
from agents.fraud.risk_store import RiskStore
from engine.fraud.recorded import RecordingError, csv_events, log_events, parse_mapping
from engine.fraud.training import main as train
from engine.fraud.training import main_recording as train_recording
from engine.replay.event_log import TruncatedLogError
from engine.settings import load_settings

T = TypeVar("T")


def run_train(args: argparse.Namespace) -> int:
    """Train the fraud scorer with a time split and print its metrics against the rules baseline."""
    if args.log is not None or args.csv is not None:
        return run_train_recorded(args)
    data = existing_file(args.data, "--data")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file: give the folder the versioned models go in")
    try:
        return train(data, args.out, args.limit)
    except ValueError as error:
        option = f"--limit {args.limit}: " if args.limit is not None else f"--data {data}: "
        raise UsageError(option + str(error)) from error


def run_train_recorded(args: argparse.Namespace) -> int:
    """`fraud train --log RECORDING` or `--csv FILE --map ...`: the same split, read through the wire format."""
    if args.log is not None and args.csv is not None:
        raise UsageError("give --log or --csv, not both")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file: give the folder the versioned models go in")
    settings = load_settings()
    try:
        if args.log is not None:
            source = existing_file(args.log, "--log")
            events = log_events(source, args.transactions_topic or settings.topics.transactions,
                                args.labels_topic or settings.topics.fraud_labels, settings.fraud.max_future_s)
            return train_recording(source, events, args.out, args.limit, label_delay_days=None)
        if args.map is None:
            raise UsageError("--csv needs --map customer_id=COL,terminal_id=COL,amount=COL,occurred_at=COL,fraud=COL")
        source = existing_file(args.csv, "--csv")
        delay = timedelta(days=args.label_delay_days)
        return train_recording(source, csv_events(source, parse_mapping(args.map), delay), args.out, args.limit,
                               label_delay_days=args.label_delay_days)
    except (RecordingError, TruncatedLogError) as error:
        raise UsageError(str(error)) from error
    except ValueError as error:
        option = "--log" if args.log is not None else "--csv"
        raise UsageError(f"{option} {args.log or args.csv}: {error}") from error


def _with_store(action: Callable[[RiskStore], Awaitable[T]]) -> T:
    """Run one action against the configured Redis risk store, closing it afterwards."""
    settings = load_settings()

    async def run() -> T:
        store = RiskStore(str(settings.redis_url), settings.redis_prefix)
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def run_block(args: argparse.Namespace) -> int:
    """Add ids to (or --remove them from) the Redis block lists; with no ids, print the lists."""

    async def change_lists(store: RiskStore) -> dict[str, list[str]]:
        change = store.unblock if args.remove else store.block
        for entity_id in args.customer:
            await change("customer", entity_id)
        for entity_id in args.terminal:
            await change("terminal", entity_id)
        lists = await store.block_lists()
        return {"customers": sorted(lists.customers), "terminals": sorted(lists.terminals)}

    print(json.dumps(_with_store(change_lists), indent=2))
    return 0


def run_risk(args: argparse.Namespace) -> int:
    """Print the latest risk of a customer or a terminal as an authoriser reads it from Redis."""

    async def read_risk(store: RiskStore) -> object:
        if args.customer:
            return await store.customer_risk(args.customer)
        return await store.terminal_risk(args.terminal)

    print(json.dumps(_with_store(read_risk), indent=2))
    return 0


def add_to(commands: Commands) -> None:
    fraud = commands.add_parser("fraud", help="fraud scoring").add_subparsers(dest="fraud", required=True)
    train_cmd = fraud.add_parser("train", help=run_train.__doc__)
    train_cmd.add_argument("--data", type=Path, default=HANDBOOK)
    train_cmd.add_argument("--out", type=Path, default=Path("models/fraud"), help="folder for versioned models")
    train_cmd.add_argument("--limit", type=positive_int, default=None, help="read only the first N transactions")
    train_cmd.add_argument("--log", type=Path, default=None, metavar="RECORDING",
                           help="train on a recording of the transactions and fraud-labels topics instead")
    train_cmd.add_argument("--transactions-topic", default=None, help="its payments topic (default: settings)")
    train_cmd.add_argument("--labels-topic", default=None, help="its labels topic (default: settings)")
    train_cmd.add_argument("--csv", type=Path, default=None, metavar="FILE",
                           help="train on a labelled CSV of another layout (with --map)")
    train_cmd.add_argument("--map", default=None, metavar="FIELD=COLUMN,...",
                           help="customer_id, terminal_id, amount, occurred_at, fraud [, transaction_id]")
    train_cmd.add_argument("--label-delay-days", type=float, default=7.0,
                           help="--csv: days after each payment its label arrives")
    train_cmd.set_defaults(run=run_train)

    block = fraud.add_parser("block", help=run_block.__doc__)
    block.add_argument("--customer", action="append", default=[], metavar="ID", help="repeatable")
    block.add_argument("--terminal", action="append", default=[], metavar="ID", help="repeatable")
    block.add_argument("--remove", action="store_true", help="take the ids off the lists instead")
    block.set_defaults(run=run_block)

    risk = fraud.add_parser("risk", help=run_risk.__doc__)
    who = risk.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", metavar="ID")
    who.add_argument("--terminal", metavar="ID")
    risk.set_defaults(run=run_risk)
    fraud_report.add_to(fraud)
