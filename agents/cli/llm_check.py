"""`engine llm-check`: load the configured model and ask it one grammar-constrained question."""

from __future__ import annotations

import argparse
import json
from typing import Any

from agents.cli.errors import UsageError
from agents.cli.parsing import Commands
from engine.llm import LlmUnavailableError, ModelLoadError, OpenAICompatibleModel
from engine.llm.context import context_tokens
from engine.llm.factory import PROBE_PROMPT, PROBE_SCHEMA, open_language_model
from engine.settings import load_settings


def run(args: argparse.Namespace) -> int:
    """Load the configured model and ask it one grammar-constrained question."""
    settings = load_settings()
    try:
        model = open_language_model(settings.llm)
        report: dict[str, Any] = {"backend": settings.llm.backend}
        if isinstance(model, OpenAICompatibleModel):  # which server, and which model it says it serves
            report |= {"server": model.base_url, "served_models": model.served_models(),
                       "requested_model": model.model_name}
        else:
            report["path"] = str(settings.llm.model_path)
        completion = model.complete_json(PROBE_PROMPT, PROBE_SCHEMA, max_tokens=128)
    except (ModelLoadError, LlmUnavailableError) as error:
        raise UsageError(str(error)) from error
    json.loads(completion.text)  # the grammar guarantees JSON; fail loudly if it ever does not
    print(json.dumps({**report, "model": completion.model, "context_tokens": context_tokens(model),
                      "answer": completion.text, "prompt_tokens": completion.prompt_tokens,
                      "completion_tokens": completion.completion_tokens, "seconds": round(completion.seconds, 3)},
                     indent=2))
    return 0


def add_to(commands: Commands) -> None:
    commands.add_parser("llm-check", help=run.__doc__).set_defaults(run=run)
