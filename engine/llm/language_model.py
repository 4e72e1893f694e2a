"""The narrow interface the engine uses to ask a language model for a JSON decision."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


class LlmUnavailableError(RuntimeError):
    """The model could not be asked: server down, timed out, HTTP error or a body that is not an answer."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)  # both in args, so the error pickles and logs whole
        self.url = url
        self.reason = reason

    def __str__(self) -> str:
        return f"LLM server {self.url}: {self.reason}"


@dataclass(frozen=True)
class Completion:
    """One answer: the generated text (JSON constrained by the schema) and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    model: str


@runtime_checkable
class LanguageModel(Protocol):
    """Anything that turns a prompt into text that follows a JSON schema."""

    def complete_json(self, prompt: str, json_schema: dict[str, Any], *, max_tokens: int) -> Completion:
        """Generate an answer to `prompt` constrained to `json_schema`; stops after `max_tokens`."""
        ...


def answer_field(text: str, name: str, kind: type, expected: str) -> Any:
    """`name` of a JSON-object answer if it is a `kind`; else ValueError (`not JSON: ...`, or `expected`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get(name), kind):
        raise ValueError(expected)
    return data[name]
