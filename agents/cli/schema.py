"""`engine schema`: one JSON Schema file per wire model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agents.cli.errors import UsageError
from agents.cli.parsing import Commands
from schemas import WIRE_MODELS


def run(args: argparse.Namespace) -> int:
    """Write one JSON Schema file per wire model."""
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: give a folder for the *.schema.json files")
    out.mkdir(parents=True, exist_ok=True)
    for name, model in WIRE_MODELS.items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n")
        print(path)
    return 0


def add_to(commands: Commands) -> None:
    schema = commands.add_parser("schema", help=run.__doc__)
    schema.add_argument("--out", type=Path, required=True, help="folder for the *.schema.json files")
    schema.set_defaults(run=run)
