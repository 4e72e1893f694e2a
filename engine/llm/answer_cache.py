"""AnswerCache: LLM answers by request hash, so a repeated request, a rerun or a backtest needs no model."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from engine.llm.context import estimate_tokens
from engine.llm.language_model import Completion, LanguageModel, SizedModel

log = logging.getLogger(__name__)


def request_hash(model_id: str, prompt: str, json_schema: dict[str, Any], max_tokens: int) -> str:
    """sha256 of everything that decides an answer: model, prompt, grammar and token budget."""
    canonical = json.dumps({"model": model_id, "prompt": prompt, "schema": json_schema, "max_tokens": max_tokens},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class AnswerMissingError(LookupError):
    """The cache has no answer for a request and no model may be asked (a cache-only backtest)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no cached answer for request {self.key[:16]}… and no model to ask"


class AnswerCache(Protocol):
    """Where answers are kept: a JSON-lines file here, Redis in agents/llm/answer_store.py."""

    def get(self, key: str) -> Completion | None:
        """The answer stored for key, or None."""
        ...

    def put(self, key: str, completion: Completion) -> None:
        """Keep an answer (a second put of the same key may be ignored)."""
        ...


def completion_to_json(key: str, completion: Completion) -> str:
    return json.dumps({"key": key, "text": completion.text, "model": completion.model,
                       "prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
                       "seconds": round(completion.seconds, 3)}, sort_keys=True)


def completion_from_json(raw: str | bytes) -> tuple[str, Completion]:
    """(key, completion) of one stored entry; ValueError naming what is wrong."""
    try:
        data = json.loads(raw)
        return data["key"], Completion(text=str(data["text"]), prompt_tokens=int(data["prompt_tokens"]),
                                       completion_tokens=int(data["completion_tokens"]),
                                       seconds=float(data["seconds"]), model=str(data["model"]))
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"not a cached answer: {error!r}") from error


class FileAnswerCache:
    """Answers in a JSON-lines file: read whole at open, new answers appended (a file per experiment)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.answers: dict[str, Completion] = {}
        self.lock = threading.Lock()
        if path.exists():
            with path.open(encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        key, completion = completion_from_json(line)
                    except ValueError as error:
                        raise ValueError(f"{path}:{number}: {error}") from error
                    self.answers.setdefault(key, completion)

    def get(self, key: str) -> Completion | None:
        return self.answers.get(key)

    def put(self, key: str, completion: Completion) -> None:
        with self.lock:
            if key in self.answers:
                return
            self.answers[key] = completion
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(completion_to_json(key, completion) + "\n")


class CachedLanguageModel:
    """A LanguageModel that answers from the cache first and asks the model (opened on first miss) otherwise."""

    def __init__(self, cache: AnswerCache, model_id: str,
                 open_model: Callable[[], LanguageModel] | None = None, n_ctx: int | None = None) -> None:
        self.cache = cache
        self.model_id = model_id
        self.open_model = open_model  # None: cache only, a miss raises AnswerMissingError
        self.n_ctx = n_ctx  # the configured context, until an opened model tells its own
        self.model: LanguageModel | None = None
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()

    def open(self) -> None:
        """Open the model now (a live worker fails fast on a bad model instead of at its first miss)."""
        with self.lock:
            if self.model is None and self.open_model is not None:
                self.model = self.open_model()

    @property
    def context_tokens(self) -> int | None:
        """The opened model's context, else the configured one (the cache never opens a model to size a prompt)."""
        return self.model.context_tokens if isinstance(self.model, SizedModel) else self.n_ctx

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text) if isinstance(self.model, SizedModel) else estimate_tokens(text)

    def key(self, prompt: str, json_schema: dict[str, Any], max_tokens: int) -> str:
        return request_hash(self.model_id, prompt, json_schema, max_tokens)

    def complete_json(self, prompt: str, json_schema: dict[str, Any], *, max_tokens: int) -> Completion:
        key = self.key(prompt, json_schema, max_tokens)
        try:
            cached = self.cache.get(key)
        except Exception as error:  # the cache is an optimisation: a broken one must not stop decisions
            log.error("LLM answer cache unreadable: %s", error)
            cached = None
        if cached is not None:
            self.hits += 1
            return Completion(cached.text, cached.prompt_tokens, cached.completion_tokens, 0.0, cached.model)
        self.misses += 1
        if self.open_model is None:
            raise AnswerMissingError(key)
        self.open()  # once, however many threads miss at the same time
        assert self.model is not None
        completion = self.model.complete_json(prompt, json_schema, max_tokens=max_tokens)
        try:
            self.cache.put(key, completion)
        except Exception as error:
            log.error("could not keep an LLM answer in the cache: %s", error)
        return completion


def request_key(model: LanguageModel, prompt: str, json_schema: dict[str, Any], max_tokens: int) -> str:
    """The hash a decision records: the cache key when the model is cached, so a backtest can find the answer."""
    if isinstance(model, CachedLanguageModel):
        return model.key(prompt, json_schema, max_tokens)
    return request_hash("", prompt, json_schema, max_tokens)
