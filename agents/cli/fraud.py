"""`engine fraud train|block|risk`: train the scorer, edit the block lists, read a risk as an authoriser does."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from agents.cli.errors import existing_file
from agents.cli.parsing import HANDBOOK, Commands, positive_int
from agents.fraud.risk_store import RiskStore
from engine.fraud.training import main as train
from engine.settings import load_settings

T = TypeVar("T")


def run_train(args: argparse.Namespace) -> int:
    """Train the fraud scorer with a time split and print its metrics against the rules baseline."""
    return train(existing_file(args.data, "--data"), args.out, args.limit)


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
