"""`engine services start|stop|status|logs`: the local Kafka and Redis."""

from __future__ import annotations

import argparse

from agents.cli.parsing import Commands
from devstack.__main__ import main as devstack_main


def run(args: argparse.Namespace) -> int:
    """Start, stop or show the local Kafka and Redis."""
    return devstack_main([args.action])


def add_to(commands: Commands) -> None:
    services = commands.add_parser("services", help=run.__doc__)
    services.add_argument("action", choices=["start", "stop", "status", "logs"])
    services.set_defaults(run=run)
