"""OpenAICompatibleModel: a LanguageModel served over HTTP (llama.cpp's server or any OpenAI-style API)."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from engine.llm.context import CHARS_PER_TOKEN
from engine.llm.language_model import Completion, FailureKind, LlmUnavailableError

__all__ = ["LlmUnavailableError", "OpenAICompatibleModel", "api_base"]

_SHOWN = 200  # characters of an unexpected body quoted in an error
_PROBE_TIMEOUT_S = 2.0  # the start-up probes of context and tokenizer are optional: never wait long for them
# A prompt-like sample (instructions, ids, numbers) whose token count calibrates the length-based estimate.
_CALIBRATION_TEXT = (
    "You are a dispatcher planning delivery routes for one fleet. Assign open orders to vehicles.\n"
    "- van-3 at (1.2, -0.4) cap 12 ends 480 committed ['o-17']\n"
    "- o-2041 at (3.5, 2.1) demand 2 window 0-240 service 2 priority 1 note \"ring the bell twice\"\n"
    'Answer with JSON only: {"routes": [{"vehicle_id": "...", "order_ids": ["...", ...]}]}.'
)
# Servers that say a prompt is too long: OpenAI's and llama-cpp-python's code, upstream llama-server's type.
_CONTEXT_CODES = {"context_length_exceeded", "exceed_context_size_error"}
_CONTEXT_WORDS = re.compile(r"context (length|size|window)|maximum context|exceeds? the available context", re.I)


def api_base(url: str) -> str:
    """The OpenAI API root of a server URL: `/v1` added unless the path already ends in a version (`/v1`)."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    if not re.search(r"/v\d+$", path):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def error_reason(status: int, body: str) -> tuple[str, FailureKind]:
    """`HTTP 400 context_length_exceeded: message` from an error body (OpenAI's shape), and its kind."""
    code, message = "", body
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    detail = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(detail, dict):
        code = str(detail.get("code") or detail.get("type") or "")
        message = str(detail.get("message") or body)
    elif isinstance(detail, str):
        message = detail
    exceeded = code in _CONTEXT_CODES or bool(_CONTEXT_WORDS.search(message))
    reason = f"HTTP {status}{' ' + code if code else ''}: {message[:_SHOWN * 2]}"
    return reason, "context_exceeded" if exceeded else "http_error"


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

    The base URL may be given with or without `/v1`. The context window is the server's when it reports one
    (upstream llama-server's /props), else `n_ctx`; prompt tokens are estimated from their length, calibrated
    once against the server's tokenizer when it has one (/tokenize, or llama-cpp-python's /extras/tokenize).
    """

    def __init__(self, base_url: str, *, model_name: str, api_key: str | None = None, timeout_s: float = 30.0,
                 seed: int = 0, n_ctx: int | None = None) -> None:
        self.base_url = api_base(base_url)
        self.url = self.base_url + "/chat/completions"
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.seed = seed
        self.n_ctx = n_ctx
        self.server_n_ctx: int | None = None
        self.chars_per_token = CHARS_PER_TOKEN
        self._probed = False
        self._probe_lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # One pooled client: keep-alive saves a connect per cycle; httpx.Client is thread-safe.
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers)

    @property
    def server_root(self) -> str:
        return re.sub(r"/v\d+$", "", self.base_url)

    @property
    def context_tokens(self) -> int | None:
        """The server's context when it reports one, else the configured n_ctx."""
        self.probe()
        return self.server_n_ctx or self.n_ctx

    def count_tokens(self, text: str) -> int:
        """An estimate from the length (a round trip per count would cost more than the cut saves)."""
        self.probe()
        return int(len(text) / self.chars_per_token) + 1

    def probe(self) -> None:
        """Once: ask the server for its context and calibrate the token estimate; any failure keeps defaults."""
        with self._probe_lock:
            if self._probed:
                return
            self._probed = True
            timeout = min(self.timeout_s, _PROBE_TIMEOUT_S)
            try:
                props = self._client.get(self.server_root + "/props", timeout=timeout)
                if props.is_success:
                    data = props.json()
                    settings = data.get("default_generation_settings") if isinstance(data, dict) else None
                    n_ctx = (settings or {}).get("n_ctx") or data.get("n_ctx")
                    self.server_n_ctx = int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None
                # Upstream llama-server answers {"tokens": [...]}, llama-cpp-python's server {"count": n}.
                for path, field in (("/tokenize", "content"), ("/extras/tokenize/count", "input")):
                    response = self._client.post(self.server_root + path, json={field: _CALIBRATION_TEXT},
                                                 timeout=timeout)
                    if response.is_success:
                        data = response.json()
                        tokens = len(data["tokens"]) if "tokens" in data else int(data["count"])
                        if tokens > 0:  # 10% margin: a prompt is not the sample
                            self.chars_per_token = max(min(len(_CALIBRATION_TEXT) / tokens, 8.0), 0.5) / 1.1
                        break
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass  # a server without these endpoints (or a hung one) keeps the defaults

    def served_models(self) -> list[str]:
        """The model ids the server lists at /v1/models (empty when it lists none)."""
        try:
            response = self._client.get(self.base_url + "/models")
        except httpx.HTTPError as error:
            raise LlmUnavailableError(self.base_url + "/models", f"request failed: {error!r}") from error
        if response.is_error:
            raise LlmUnavailableError(self.base_url + "/models", f"HTTP {response.status_code}: "
                                      f"{response.text[:_SHOWN]}")
        try:
            return [str(m["id"]) for m in response.json().get("data") or []]
        except (ValueError, KeyError, TypeError, AttributeError):
            return []

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
            raise LlmUnavailableError(self.url, f"timed out after {self.timeout_s:g} s ({error!r})",
                                      "timeout") from error
        except httpx.HTTPError as error:  # connection refused, reset, DNS, protocol errors
            raise LlmUnavailableError(self.url, f"request failed: {error!r}") from error
        seconds = time.perf_counter() - started
        if response.is_error:
            reason, kind = error_reason(response.status_code, response.text)
            raise LlmUnavailableError(self.url, reason, kind)
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
