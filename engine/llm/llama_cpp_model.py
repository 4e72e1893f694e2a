"""LlamaCppModel: a GGUF model (Granite 4.0-H or the tiny test copy) run in process by llama-cpp-python."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.llm.language_model import Completion, LlmRequestError

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_grammar import LlamaGrammar

GGUF_MAGIC = b"GGUF"
# llama-cpp-python's words for a prompt longer than the context (its server turns them into HTTP 400).
_CONTEXT_EXCEEDED = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


class ModelLoadError(RuntimeError):
    """The model file is missing, is not a GGUF file, or llama.cpp could not load it."""


def check_gguf(path: Path) -> Path:
    """Return `path` if it is a readable file that starts with the GGUF magic; else raise ModelLoadError."""
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist (see models/README.md)")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelLoadError(f"model file {path} cannot be read: {exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelLoadError(
            f"model file {path} is not a GGUF file (starts with {magic!r}, expected {GGUF_MAGIC!r})"
        )
    return path


# llama-cpp-python's schema converter lets raw control characters into JSON strings (invalid JSON);
# llama.cpp's own converter excludes them, as here.
_LAX_CHAR_RULE = r'char ::= [^"\\] |'
_JSON_CHAR_RULE = r'char ::= [^"\\\x7F\x00-\x1F] |'


def json_schema_grammar(json_schema: dict[str, Any]) -> str:
    """GBNF grammar for text that is valid JSON and follows `json_schema`."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = str(json_schema_to_gbnf(json.dumps(json_schema))).replace(_LAX_CHAR_RULE, _JSON_CHAR_RULE)
    # Compact JSON: optional whitespace only costs tokens, and bounded answers must fit in max_tokens.
    return re.sub(r"(?m)^space ::= .*$", 'space ::= ""', grammar)


class LlamaCppModel:
    """A LanguageModel backed by llama.cpp: greedy (temperature 0), fixed seed, grammar-constrained JSON.

    With `deterministic` (the default) the context is cleared before every request, so an answer
    depends only on its own prompt, not on which prompt came before (no KV/SSM-state prefix reuse).
    One lock serialises requests: a llama.cpp context is not thread-safe.
    """

    def __init__(
        self,
        model_path: Path,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        seed: int = 0,
        *,
        deterministic: bool = True,
        verbose: bool = False,
    ) -> None:
        self.model_path = check_gguf(Path(model_path))
        self.seed = seed
        self.deterministic = deterministic
        self.n_ctx = n_ctx
        self._lock = threading.Lock()
        self._grammars: dict[str, LlamaGrammar] = {}
        from llama_cpp import Llama

        try:
            self._llama: Llama | None = Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_gpu_layers=n_gpu_layers,
                seed=seed,
                verbose=verbose,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"llama.cpp could not load model file {self.model_path}: {exc}") from exc
        metadata = self._llama.metadata
        self.name: str = metadata.get("general.name") or self.model_path.stem
        self._chat = "tokenizer.chat_template" in metadata

    def complete_json(self, prompt: str, json_schema: dict[str, Any], *, max_tokens: int) -> Completion:
        """Answer `prompt` (as a user chat turn when the model has a chat template) with JSON
        that follows `json_schema`; the text may be cut short if `max_tokens` runs out."""
        with self._lock:
            llama = self._llama
            if llama is None:
                raise RuntimeError(f"model {self.name} is closed")
            grammar = self._grammar(json_schema)
            if self.deterministic:
                llama.reset()  # type: ignore[no-untyped-call]
            start = time.perf_counter()
            options: dict[str, Any] = {
                "max_tokens": max_tokens,
                "temperature": 0.0,
                "seed": self.seed,
                "grammar": grammar,
            }
            try:
                if self._chat:
                    result: Any = llama.create_chat_completion(
                        messages=[{"role": "user", "content": prompt}], **options
                    )
                    text = result["choices"][0]["message"]["content"] or ""
                else:
                    result = llama.create_completion(prompt, **options)
                    text = result["choices"][0]["text"]
            except ValueError as error:
                exceeded = _CONTEXT_EXCEEDED.search(str(error))
                if exceeded is None:
                    raise
                raise LlmRequestError(f"context too small: prompt {exceeded[1]} tokens > n_ctx {exceeded[2]}",
                                      "context_exceeded") from error
            seconds = time.perf_counter() - start
        usage = result["usage"]
        return Completion(
            text=text,
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
            seconds=seconds,
            model=self.name,
        )

    @property
    def context_tokens(self) -> int:
        """The context window llama.cpp allocated (prompt and answer share it)."""
        llama = self._llama
        return llama.n_ctx() if llama is not None else self.n_ctx

    def count_tokens(self, text: str) -> int:
        """Exact: the model's own tokenizer (read-only, so no lock against a running request)."""
        llama = self._llama
        if llama is None:
            raise RuntimeError(f"model {self.name} is closed")
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _grammar(self, json_schema: dict[str, Any]) -> LlamaGrammar:
        from llama_cpp.llama_grammar import LlamaGrammar

        key = json.dumps(json_schema)  # key order kept: it sets the order of the generated fields
        grammar = self._grammars.get(key)
        if grammar is None:
            grammar = self._grammars[key] = LlamaGrammar.from_string(json_schema_grammar(json_schema))
        return grammar

    def close(self) -> None:
        """Free the model and its context; later requests raise."""
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    def __enter__(self) -> LlamaCppModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
