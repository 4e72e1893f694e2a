"""OpenAICompatibleModel against llama.cpp's own server (llama-cpp-python) running for real on localhost."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from engine.llm import LanguageModel, LlamaCppModel, LlmUnavailableError, OpenAICompatibleModel
from engine.llm.openai_model import api_base, error_reason
from tests.support import free_port, llama_server

IDS = ["route-a", "route-b", "route-c", "hold"]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {"enum": IDS},
        "vehicle_ids": {"type": "array", "items": {"enum": ["v1", "v2", "v3"]}, "maxItems": 3},
        # No integer minimum/maximum: llama-cpp-python's schema-to-grammar converter ignores them.
        "stops": {"type": "array", "items": {"enum": ["o-17", "depot"]}, "maxItems": 2},
    },
    "required": ["decision", "vehicle_ids", "stops"],
    "additionalProperties": False,
}
PROMPT = "Order o-17 must reach the depot by 14:00. Pick a route, vehicles and stops. Answer in JSON."


@pytest.fixture(scope="module")
def served_model(tiny_granite: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` serving the tiny Q4_K_M Granite; yields its /v1 URL."""
    with llama_server(tiny_granite[1], 1024, tmp_path_factory.mktemp("llama-server") / "server.log") as root:
        yield f"{root}/v1"


@pytest.fixture(scope="module")
def model(served_model: str) -> Iterator[OpenAICompatibleModel]:
    """The HTTP backend pointed at the running server."""
    with OpenAICompatibleModel(served_model, model_name="tiny-granite", timeout_s=30) as opened:
        yield opened


def test_answer_follows_the_schema(model: OpenAICompatibleModel) -> None:
    """The schema sent as response_format makes random weights answer JSON valid against enums and maxItems."""
    assert isinstance(model, LanguageModel)
    completion = model.complete_json(PROMPT, SCHEMA, max_tokens=128)
    jsonschema.validate(json.loads(completion.text), SCHEMA)
    assert completion.prompt_tokens > 0 and 0 < completion.completion_tokens < 128
    assert completion.seconds > 0 and completion.model == "tiny-granite"


def test_same_prompt_same_answer(model: OpenAICompatibleModel) -> None:
    """Temperature 0 and a fixed seed: the same prompt twice gives the same text."""
    first = model.complete_json(PROMPT, SCHEMA, max_tokens=128).text
    assert model.complete_json(PROMPT, SCHEMA, max_tokens=128).text == first


def test_both_backends_follow_the_same_schema(model: OpenAICompatibleModel, tiny_granite: tuple[Path, Path]) -> None:
    """In-process and HTTP backends run the same GGUF and both honour the schema (texts may differ)."""
    with LlamaCppModel(tiny_granite[1], n_ctx=1024) as local:
        for backend in (model, local):
            jsonschema.validate(json.loads(backend.complete_json(PROMPT, SCHEMA, max_tokens=128).text), SCHEMA)


def test_http_error_is_unavailable(served_model: str) -> None:
    """An HTTP error status (here 404 from a path the server does not have) becomes LlmUnavailableError."""
    wrong_path = served_model.removesuffix("/v1") + "/nowhere/v1"
    with OpenAICompatibleModel(wrong_path, model_name="x", timeout_s=10) as wrong, \
            pytest.raises(LlmUnavailableError, match="HTTP 404") as info:
        wrong.complete_json(PROMPT, SCHEMA, max_tokens=8)
    assert info.value.url == f"{wrong_path}/chat/completions" and info.value.kind == "http_error"


def test_base_url_without_v1_is_accepted(served_model: str) -> None:
    """The server's root URL (no /v1) reaches the same API: /v1 is added, and /v1/models names the model."""
    root = served_model.removesuffix("/v1")
    with OpenAICompatibleModel(root + "/", model_name="tiny-granite", timeout_s=30) as model:
        assert model.base_url == served_model
        jsonschema.validate(json.loads(model.complete_json(PROMPT, SCHEMA, max_tokens=128).text), SCHEMA)
        assert model.served_models()


@pytest.mark.parametrize(("given", "base"), [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
    ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
    ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
    ("http://127.0.0.1/proxy/openai", "http://127.0.0.1/proxy/openai/v1"),
    ("http://127.0.0.1/proxy/v2", "http://127.0.0.1/proxy/v2"),
])
def test_api_base_adds_v1_once(given: str, base: str) -> None:
    """A base URL is accepted with or without /v1 (or another version segment), never doubled."""
    assert api_base(given) == base


def test_context_exceeded_reason_from_error_body() -> None:
    """An OpenAI-shaped 400 becomes `HTTP 400 context_length_exceeded: message` of kind context_exceeded."""
    body = json.dumps({"error": {"message": "This model's maximum context length is 512 tokens.",
                                 "type": "invalid_request_error", "code": "context_length_exceeded"}})
    assert error_reason(400, body) == (
        "HTTP 400 context_length_exceeded: This model's maximum context length is 512 tokens.", "context_exceeded")
    upstream = json.dumps({"error": {"code": 400, "message": "the request exceeds the available context size, "
                                     "try increasing it", "type": "exceed_context_size_error"}})
    assert error_reason(400, upstream)[1] == "context_exceeded"
    assert error_reason(503, "<html>busy</html>") == ("HTTP 503: <html>busy</html>", "http_error")


def test_server_context_and_tokenizer_probed(served_model: str, tiny_granite: tuple[Path, Path]) -> None:
    """Against llama-cpp-python's server (no /props), the configured n_ctx stands and the token estimate is
    calibrated with its /extras/tokenize/count (the tiny Granite takes about one token per character)."""
    with OpenAICompatibleModel(served_model, model_name="x", timeout_s=10, n_ctx=4096) as model:
        assert model.context_tokens == 4096
        estimate = model.count_tokens(PROMPT)
    with LlamaCppModel(tiny_granite[1], n_ctx=1024) as local:
        exact = local.count_tokens(PROMPT)
    assert exact <= estimate <= 1.5 * exact


def test_server_down_is_unavailable() -> None:
    """Connection refused becomes LlmUnavailableError carrying the URL and the cause, at once."""
    url = f"http://127.0.0.1:{free_port()}/v1"  # a port just freed: nothing listens there
    started = time.monotonic()
    with OpenAICompatibleModel(url, model_name="x", timeout_s=5) as down, \
            pytest.raises(LlmUnavailableError) as info:
        down.complete_json(PROMPT, SCHEMA, max_tokens=8)
    assert time.monotonic() - started < 2
    assert info.value.url == f"{url}/chat/completions" and url in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_hung_server_times_out() -> None:
    """A server that accepts and never answers gives LlmUnavailableError after timeout_s, not a hang."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        accepted: list[socket.socket] = []
        # Accept for real and hold the connection open without ever writing a byte.
        threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        started = time.monotonic()
        with OpenAICompatibleModel(url, model_name="x", timeout_s=1) as hung, \
                pytest.raises(LlmUnavailableError, match="timed out after 1 s") as info:
            hung.complete_json(PROMPT, SCHEMA, max_tokens=8)
        assert 1 <= time.monotonic() - started < 2
        assert info.value.url == f"{url}/chat/completions"
        for connection in accepted:
            connection.close()


def test_non_json_body_is_unavailable(canned_server: Callable[[int, bytes], str]) -> None:
    """A 200 whose body is not JSON (a proxy's HTML page) becomes LlmUnavailableError quoting the body."""
    url = canned_server(200, b"<html>gateway</html>")
    with OpenAICompatibleModel(url, model_name="x", timeout_s=5) as model, \
            pytest.raises(LlmUnavailableError, match=r"non-JSON body.*gateway"):
        model.complete_json(PROMPT, SCHEMA, max_tokens=8)


def test_invalid_json_answer_is_returned_as_is(canned_server: Callable[[int, bytes], str]) -> None:
    """An answer whose content is not valid JSON comes back verbatim in Completion.text: the caller judges it."""
    payload = {"model": "m", "choices": [{"message": {"role": "assistant", "content": '{"decision": "ro'}}],
               "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
    url = canned_server(200, json.dumps(payload).encode())
    with OpenAICompatibleModel(url, model_name="x", timeout_s=5) as model:
        completion = model.complete_json(PROMPT, SCHEMA, max_tokens=8)
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == ('{"decision": "ro', 7, 3)
