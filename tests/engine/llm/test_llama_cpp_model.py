"""LlamaCppModel loads real granitehybrid GGUF files (F32 and Q4_K_M) and answers with schema-valid JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from engine.llm import Completion, LanguageModel, LlamaCppModel, ModelLoadError
from engine.llm.llama_cpp_model import json_schema_grammar

IDS = ["route-a", "route-b", "route-c", "hold"]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {"enum": IDS},
        "vehicle_ids": {"type": "array", "items": {"enum": ["v1", "v2", "v3"]}, "maxItems": 3},
        "reason": {"type": "string", "maxLength": 24},
    },
    "required": ["decision", "vehicle_ids", "reason"],
    "additionalProperties": False,
}
PROMPT_A = "Order o-17 must reach the depot by 14:00. Pick a route and vehicles. Answer in JSON."
PROMPT_B = "Transaction t-9 of 4,000 EUR from a new device in another country: decide. Answer in JSON."


def _check(value: Any) -> None:
    """Validate `value` against SCHEMA by hand (jsonschema is not a dependency)."""
    assert isinstance(value, dict)
    assert set(value) == {"decision", "vehicle_ids", "reason"}
    assert value["decision"] in IDS
    assert isinstance(value["vehicle_ids"], list) and len(value["vehicle_ids"]) <= 3
    assert all(v in {"v1", "v2", "v3"} for v in value["vehicle_ids"])
    assert isinstance(value["reason"], str) and len(value["reason"]) <= 24


@pytest.fixture(scope="module", params=["f32", "q4_k_m"])
def model(request: pytest.FixtureRequest, tiny_granite: tuple[Path, Path]) -> Iterator[LlamaCppModel]:
    """The tiny Granite, F32 and Q4_K_M, loaded through LlamaCppModel (built once per session)."""
    f32, q4 = tiny_granite
    with LlamaCppModel(f32 if request.param == "f32" else q4, n_ctx=512) as loaded:
        yield loaded


def test_answer_is_schema_valid_json(model: LlamaCppModel) -> None:
    """The grammar makes random weights produce JSON valid against an enum/maxItems schema."""
    assert isinstance(model, LanguageModel)
    answer = model.complete_json(PROMPT_A, SCHEMA, max_tokens=256)
    assert isinstance(answer, Completion)
    _check(json.loads(answer.text))
    assert answer.prompt_tokens > 0 and 0 < answer.completion_tokens < 256
    assert answer.seconds > 0 and answer.model == "tiny-granite-hybrid"


def test_same_prompt_same_answer(model: LlamaCppModel) -> None:
    """Temperature 0 with a fixed seed: the same prompt twice gives the same text."""
    first = model.complete_json(PROMPT_A, SCHEMA, max_tokens=256)
    assert model.complete_json(PROMPT_A, SCHEMA, max_tokens=256).text == first.text


def test_answer_does_not_depend_on_previous_prompt(model: LlamaCppModel) -> None:
    """Deterministic mode: A, then B, then A gives A's answer both times (no state reuse across prompts)."""
    a1 = model.complete_json(PROMPT_A, SCHEMA, max_tokens=256).text
    b = model.complete_json(PROMPT_B, SCHEMA, max_tokens=256).text
    a2 = model.complete_json(PROMPT_A, SCHEMA, max_tokens=256).text
    _check(json.loads(b))
    assert a1 == a2


def test_closed_model_refuses(tiny_granite_q4: Path) -> None:
    """After close() a request raises instead of touching freed memory."""
    loaded = LlamaCppModel(tiny_granite_q4, n_ctx=256)
    loaded.close()
    loaded.close()
    with pytest.raises(RuntimeError, match="closed"):
        loaded.complete_json(PROMPT_A, SCHEMA, max_tokens=8)


@pytest.fixture
def tiny_granite_q4(tiny_granite: tuple[Path, Path]) -> Path:
    """The Q4_K_M tiny Granite path."""
    return tiny_granite[1]


def test_missing_file_is_a_load_error(tmp_path: Path) -> None:
    """A path that does not exist raises ModelLoadError naming the path."""
    missing = tmp_path / "granite-4.0-h-micro-Q4_K_M.gguf"
    with pytest.raises(ModelLoadError, match=re.escape(str(missing))):
        LlamaCppModel(missing)


def test_non_gguf_file_is_a_load_error(tmp_path: Path) -> None:
    """A file without the GGUF magic (e.g. an HTML error page saved by a download) raises ModelLoadError."""
    fake = tmp_path / "model.gguf"
    fake.write_text("<html>404</html>")
    with pytest.raises(ModelLoadError, match="not a GGUF file") as info:
        LlamaCppModel(fake)
    assert str(fake) in str(info.value)


def test_truncated_gguf_is_a_load_error(tmp_path: Path, tiny_granite_q4: Path) -> None:
    """A GGUF file cut short passes the magic check but llama.cpp's failure becomes ModelLoadError."""
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_granite_q4.read_bytes()[:4096])
    with pytest.raises(ModelLoadError, match=re.escape(str(cut))):
        LlamaCppModel(cut)


def test_grammar_keeps_control_characters_out_of_strings() -> None:
    """The JSON-schema grammar forbids raw control characters in strings, as JSON does."""
    grammar = json_schema_grammar({"type": "object", "properties": {"s": {"type": "string"}}})
    assert r'char ::= [^"\\\x7F\x00-\x1F]' in grammar


def test_concurrent_requests_are_serialised(model: LlamaCppModel) -> None:
    """Requests from several threads at once all get the same answer as a lone request (the lock holds)."""
    alone = model.complete_json(PROMPT_A, SCHEMA, max_tokens=256).text
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = list(pool.map(lambda p: model.complete_json(p, SCHEMA, max_tokens=256).text, [PROMPT_A] * 4))
    assert texts == [alone] * 4
