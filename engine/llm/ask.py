"""ask: one grammar-constrained request, timed and keyed by its request hash; a failed model is an answer too."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from engine.llm.answer_cache import request_key
from engine.llm.language_model import Completion, FailureKind, LanguageModel, failure_kind


@dataclass(frozen=True)
class Answer:
    """What one request gave: the completion, or the error that stopped it; never raises for a broken model."""

    request_hash: str
    seconds: float
    completion: Completion | None = None
    error: str | None = None
    kind: FailureKind | None = None  # why there is no completion, in one word (None when there is one)


def ask(model: LanguageModel, prompt: str, json_schema: dict[str, Any], max_tokens: int) -> Answer:
    """Ask `model` once; a crashed or unreachable model is recorded in `error`, never fatal to the caller."""
    request_hash = request_key(model, prompt, json_schema, max_tokens)
    started = time.monotonic()
    try:
        completion = model.complete_json(prompt, json_schema, max_tokens=max_tokens)
    except Exception as error:  # the caller publishes without the LLM and records why
        return Answer(request_hash, time.monotonic() - started, error=f"LLM failed: {error}",
                      kind=failure_kind(error))
    return Answer(request_hash, time.monotonic() - started, completion)
