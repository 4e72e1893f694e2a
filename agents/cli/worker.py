"""`engine worker`: the Faust worker in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse

from agents import worker
from agents.cli.errors import UsageError
from agents.cli.parsing import Commands
from engine.fraud.scorer import ModelMissingError
from engine.llm import ModelLoadError
from engine.settings import load_settings


def run(args: argparse.Namespace) -> int:
    """Run the Faust worker until stopped."""
    try:
        worker.run_worker(load_settings())
    except (ModelMissingError, ModelLoadError) as error:
        raise UsageError(str(error)) from error
    return 0


def add_to(commands: Commands) -> None:
    commands.add_parser("worker", help=run.__doc__).set_defaults(run=run)
