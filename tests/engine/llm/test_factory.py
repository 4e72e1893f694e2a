"""Tests of open_language_model: settings in, the same LlamaCppModel path for tiny and real Granite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.llm import LlamaCppModel, LlmUnavailableError, ModelLoadError, OpenAICompatibleModel
from engine.llm.factory import PROBE_PROMPT, PROBE_SCHEMA, open_language_model
from engine.settings import LlmSettings, SettingsError, load_settings_with


def test_opens_quantized_model_from_settings(tiny_granite: tuple[Path, Path]) -> None:
    """A Q4_K_M GGUF named by the settings loads and answers schema-shaped JSON."""
    model = open_language_model(LlmSettings(model_path=tiny_granite[1], n_ctx=512, max_tokens=128))
    assert isinstance(model, LlamaCppModel)
    answer = json.loads(model.complete_json(PROBE_PROMPT, PROBE_SCHEMA, max_tokens=64).text)
    assert answer["vehicle"] in ("van-1", "van-2")
    assert set(answer["orders"]) <= {"o-1", "o-2", "o-3"}
    model.close()


def test_answer_budget_that_fills_the_context_names_both_settings() -> None:
    """In process, ENGINE_LLM__MAX_TOKENS at or above ENGINE_LLM__N_CTX leaves no room for any prompt: refused."""
    with pytest.raises(SettingsError, match=r"ENGINE_LLM: .*max_tokens 512 leaves no room for a prompt in n_ctx 512 "
                       r"\(lower ENGINE_LLM__MAX_TOKENS or raise ENGINE_LLM__N_CTX\)"):
        load_settings_with({"ENGINE_LLM__N_CTX": "512"})
    assert load_settings_with({"ENGINE_LLM__N_CTX": "512", "ENGINE_LLM__MAX_TOKENS": "256"}).llm.n_ctx == 512


def test_openai_backend_takes_the_base_url_with_or_without_v1() -> None:
    """The factory's HTTP model posts to {root}/v1/chat/completions whether the setting has /v1 or not."""
    for given in ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/"):
        model = open_language_model(LlmSettings(backend="openai", base_url=given))  # type: ignore[arg-type]
        assert isinstance(model, OpenAICompatibleModel)
        assert model.url == "http://127.0.0.1:8080/v1/chat/completions" and model.n_ctx == 4096
        model.close()


def test_missing_model_names_the_setting(tmp_path: Path) -> None:
    """A model path that does not exist fails with the environment variable to fix."""
    with pytest.raises(ModelLoadError, match="ENGINE_LLM__MODEL_PATH"):
        open_language_model(LlmSettings(model_path=tmp_path / "granite.gguf"))


def test_openai_backend_unreachable_names_the_url() -> None:
    """backend=openai gives the HTTP model; a server that is down fails with its URL, not a hang."""
    model = open_language_model(LlmSettings(backend="openai", base_url="http://127.0.0.1:9/v1", timeout_s=2))  # type: ignore[arg-type]
    assert isinstance(model, OpenAICompatibleModel)
    with pytest.raises(LlmUnavailableError, match=r"127\.0\.0\.1:9"):
        model.complete_json(PROBE_PROMPT, PROBE_SCHEMA, max_tokens=16)
