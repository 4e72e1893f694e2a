"""OpenAICompatibleModel: a LanguageModel served over HTTP (llama.cpp's server or any OpenAI-style API)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from engine.llm.language_model import Completion


class LlmUnavailableError(RuntimeError):
    """The server could not be reached, timed out, or answered with an error."""


class OpenAICompatibleModel:
    """POST /chat/completions at temperature 0 with a fixed seed and the JSON schema as the constraint.

    The schema goes in `response_format` as llama-cpp-python's server reads it ({"type": "json_object",
    "schema": ...}); upstream llama-server reads {"type": "json_schema", "json_schema": {"schema": ...}},
    so both are sent.
    """

    def __init__(self, base_url: str, *, model_name: str, api_key: str | None = None, timeout_s: float = 30.0,
                 seed: int = 0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model_name = model_name
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.seed = seed

    def complete_json(self, prompt: str, json_schema: dict[str, Any], *, max_tokens: int) -> Completion:
        body = {
            "model": self.model_name,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "seed": self.seed,
            "max_tokens": max_tokens,
            "response_format": {"type": "json_object", "schema": json_schema},
            "json_schema": json_schema,
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise LlmUnavailableError(f"LLM server {self.url}: {error}") from error
        except json.JSONDecodeError as error:
            raise LlmUnavailableError(f"LLM server {self.url} answered with non-JSON: {error}") from error
        try:
            text = payload["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as error:
            shown = str(payload)[:200]
            raise LlmUnavailableError(f"LLM server {self.url} answered without choices: {shown}") from error
        usage = payload.get("usage") or {}
        return Completion(text=text, prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)),
                          seconds=time.monotonic() - started, model=str(payload.get("model", self.model_name)))
