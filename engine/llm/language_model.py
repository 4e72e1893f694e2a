"""The narrow interface the engine uses to ask a language model for a JSON decision."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

# Why a request gave no answer, in one word (a metrics label); the error's text says it in full.
FailureKind = Literal["http_error", "context_exceeded", "timeout", "error"]


class LlmRequestError(RuntimeError):
    """The model refused or could not finish a request (an in-process one, or any with a known `kind`)."""

    def __init__(self, reason: str, kind: FailureKind = "error") -> None:
        super().__init__(reason, kind)  # in args, so the error pickles whole
        self.reason = reason
        self.kind: FailureKind = kind

    def __str__(self) -> str:
        return self.reason


class LlmUnavailableError(LlmRequestError):
    """The model could not be asked: server down, timed out, HTTP error or a body that is not an answer."""

    def __init__(self, url: str, reason: str, kind: FailureKind = "http_error") -> None:
        RuntimeError.__init__(self, url, reason, kind)  # all in args, so the error pickles and logs whole
        self.url = url
        self.reason = reason
        self.kind = kind

    def __str__(self) -> str:
        return f"LLM server {self.url}: {self.reason}"


def failure_kind(error: BaseException) -> FailureKind:
    """The kind of a failed request: the error's own, else a plain error."""
    return error.kind if isinstance(error, LlmRequestError) else "error"


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


@runtime_checkable
class SizedModel(Protocol):
    """A model that knows its context window and can count a prompt's tokens (so prompts can be cut to fit)."""

    @property
    def context_tokens(self) -> int | None:
        """Tokens the context holds (prompt and answer together), or None when unknown."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes as a prompt (exact with a tokenizer at hand, else a cautious estimate)."""
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
