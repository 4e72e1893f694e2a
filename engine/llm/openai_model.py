"""OpenAICompatibleModel: a LanguageModel served over HTTP (llama.cpp's server or any OpenAI-style API)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from engine.llm.language_model import Completion, LlmUnavailableError

__all__ = ["LlmUnavailableError", "OpenAICompatibleModel"]

_SHOWN = 200  # characters of an unexpected body quoted in an error


class OpenAICompatibleModel:
    """POST {base_url}/chat/completions at temperature 0 with a fixed seed and the JSON schema as the constraint.

    The schema goes in `response_format` as `{"type": "json_object", "schema": ...}`: llama-cpp-python's
    server (`python -m llama_cpp.server`) turns that into a grammar, and upstream llama-server reads it too.
    Upstream also takes `{"type": "json_schema", "json_schema": {"schema": ...}}` (OpenAI's structured
    outputs) or a top-level `json_schema`, but llama-cpp-python 0.3.36 rejects that type with HTTP 422
    and ignores the top-level field, so only the json_object form is sent.

    `timeout_s` bounds connecting and each read and write; a non-streamed answer arrives in one piece
    once generated, so in practice it bounds the whole request. Any failure to get an answer becomes
    LlmUnavailableError naming the URL; an answer whose text is not valid JSON is returned as it is.
    """

    def __init__(self, base_url: str, *, model_name: str, api_key: str | None = None, timeout_s: float = 30.0,
                 seed: int = 0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.seed = seed
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # One pooled client: keep-alive saves a connect per cycle; httpx.Client is thread-safe.
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers)

    def complete_json(self, prompt: str, json_schema: dict[str, Any], *, max_tokens: int) -> Completion:
        """Answer `prompt` as a user chat turn with JSON constrained to `json_schema` (cut at `max_tokens`)."""
        body = {
            "model": self.model_name,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0.0,
            "seed": self.seed,
            "max_tokens": max_tokens,
            "response_format": {"type": "json_object", "schema": json_schema},
        }
        started = time.perf_counter()
        try:
            response = self._client.post(self.url, json=body)
        except httpx.TimeoutException as error:
            raise LlmUnavailableError(self.url, f"timed out after {self.timeout_s:g} s ({error!r})") from error
        except httpx.HTTPError as error:  # connection refused, reset, DNS, protocol errors
            raise LlmUnavailableError(self.url, f"request failed: {error!r}") from error
        seconds = time.perf_counter() - started
        if response.is_error:
            raise LlmUnavailableError(self.url, f"HTTP {response.status_code}: {response.text[:_SHOWN]}")
        try:
            payload = response.json()
            text = payload["choices"][0]["message"]["content"] or ""
        except ValueError as error:  # the body itself is not JSON (a proxy's HTML page, say)
            raise LlmUnavailableError(self.url, f"answered with a non-JSON body: {response.text[:_SHOWN]!r}") from error
        except (KeyError, IndexError, TypeError) as error:
            raise LlmUnavailableError(self.url, f"answered without a message: {response.text[:_SHOWN]}") from error
        usage = payload.get("usage") or {}
        model = payload.get("model")
        return Completion(
            text=str(text),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=seconds,
            model=model if isinstance(model, str) and model else self.model_name,
        )

    def close(self) -> None:
        """Close the pooled connections; later requests raise."""
        self._client.close()

    def __enter__(self) -> OpenAICompatibleModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
