"""OpenAICompatibleModel against llama.cpp's own server running for real on localhost."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from engine.llm import LlamaCppModel, LlmUnavailableError, OpenAICompatibleModel
from engine.llm.factory import PROBE_PROMPT, PROBE_SCHEMA
from tests.support import free_port


@pytest.fixture(scope="module")
def llama_server(tiny_granite: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` serving the tiny Q4_K_M Granite; yields its /v1 URL."""
    port = free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(tiny_granite[1]), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--seed", "0"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=1):
                break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {process.returncode}")
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("llama.cpp server did not start within 60 s")
    yield url
    process.terminate()
    process.wait(timeout=10)
    log.close()


def test_answer_follows_the_schema(llama_server: str) -> None:
    """The server, given the schema in response_format, returns JSON valid against it."""
    model = OpenAICompatibleModel(llama_server, model_name="tiny-granite", timeout_s=30)
    completion = model.complete_json(PROBE_PROMPT, PROBE_SCHEMA, max_tokens=64)
    jsonschema.validate(json.loads(completion.text), PROBE_SCHEMA)
    assert completion.completion_tokens > 0


def test_same_prompt_same_answer(llama_server: str) -> None:
    """Temperature 0 and a fixed seed give the same text twice."""
    model = OpenAICompatibleModel(llama_server, model_name="tiny-granite", timeout_s=30)
    first = model.complete_json(PROBE_PROMPT, PROBE_SCHEMA, max_tokens=64).text
    assert model.complete_json(PROBE_PROMPT, PROBE_SCHEMA, max_tokens=64).text == first


def test_both_backends_follow_the_same_schema(llama_server: str, tiny_granite: tuple[Path, Path]) -> None:
    """In-process and HTTP backends run the same GGUF and both honour the schema (texts may differ)."""
    http = OpenAICompatibleModel(llama_server, model_name="tiny-granite", timeout_s=30)
    with LlamaCppModel(tiny_granite[1], n_ctx=2048) as local:
        for completion in (http.complete_json(PROBE_PROMPT, PROBE_SCHEMA, max_tokens=64),
                           local.complete_json(PROBE_PROMPT, PROBE_SCHEMA, max_tokens=64)):
            jsonschema.validate(json.loads(completion.text), PROBE_SCHEMA)


def test_hung_server_times_out() -> None:
    """A server that accepts and never answers gives LlmUnavailableError after timeout_s, not a hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    model = OpenAICompatibleModel(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", model_name="x", timeout_s=1)
    started = time.monotonic()
    with pytest.raises(LlmUnavailableError, match="timed out"):
        model.complete_json(PROBE_PROMPT, PROBE_SCHEMA, max_tokens=8)
    assert time.monotonic() - started < 5
    listener.close()
