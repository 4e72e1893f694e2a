"""AnswerCache and CachedLanguageModel: answers by request hash, model asked only on a miss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.llm.answer_cache import AnswerMissingError, CachedLanguageModel, FileAnswerCache, request_hash
from engine.llm.language_model import Completion

SCHEMA: dict[str, Any] = {"type": "object"}


class CountingModel:
    """A LanguageModel that answers with a counter, so a second real call would show."""

    def __init__(self) -> None:
        self.calls = 0

    def complete_json(self, prompt: str, json_schema: dict[str, Any], *, max_tokens: int) -> Completion:
        self.calls += 1
        return Completion(f'{{"n": {self.calls}}}', 10, 5, 0.25, "counting")


def test_request_hash_covers_model_prompt_schema_and_budget() -> None:
    """Changing any input of the request changes its hash (another model never reuses an answer)."""
    base = request_hash("m", "p", SCHEMA, 64)
    assert len(base) == 64
    assert len({base, request_hash("m2", "p", SCHEMA, 64), request_hash("m", "p2", SCHEMA, 64),
                request_hash("m", "p", {"type": "array"}, 64), request_hash("m", "p", SCHEMA, 65)}) == 5


def test_file_cache_keeps_answers_across_reopening(tmp_path: Path) -> None:
    """An answer put in a file cache is there after reopening, text and token counts intact."""
    path = tmp_path / "answers.jsonl"
    FileAnswerCache(path).put("k1", Completion('{"a": "é"}', 3, 4, 1.5, "granite"))
    again = FileAnswerCache(path).get("k1")
    assert again == Completion('{"a": "é"}', 3, 4, 1.5, "granite")
    assert FileAnswerCache(path).get("k2") is None


def test_file_cache_refuses_a_corrupt_line_naming_it(tmp_path: Path) -> None:
    """A damaged cache file is an error that names the file and line, not a silent miss."""
    path = tmp_path / "answers.jsonl"
    FileAnswerCache(path).put("k1", Completion("{}", 1, 1, 0.1, "m"))
    with path.open("a") as f:
        f.write('{"key": "k2", "text": \n')
    with pytest.raises(ValueError, match=r"answers.jsonl:2"):
        FileAnswerCache(path)


def test_cached_model_asks_the_model_once_per_request(tmp_path: Path) -> None:
    """The first request goes to the model and is kept; the same request again is a hit and costs nothing."""
    model = CountingModel()
    cached = CachedLanguageModel(FileAnswerCache(tmp_path / "a.jsonl"), "m", lambda: model)
    first = cached.complete_json("p", SCHEMA, max_tokens=8)
    second = cached.complete_json("p", SCHEMA, max_tokens=8)
    other = cached.complete_json("q", SCHEMA, max_tokens=8)
    assert (first.text, second.text, other.text) == ('{"n": 1}', '{"n": 1}', '{"n": 2}')
    assert second.seconds == 0.0 and model.calls == 2 and (cached.hits, cached.misses) == (1, 2)


def test_cache_only_model_never_opens_a_model(tmp_path: Path) -> None:
    """Without a model to open, a hit answers and a miss raises AnswerMissingError with the request hash."""
    cache = FileAnswerCache(tmp_path / "a.jsonl")
    cached = CachedLanguageModel(cache, "m")
    cache.put(cached.key("p", SCHEMA, 8), Completion('{"ok": true}', 1, 1, 0.1, "m"))
    assert cached.complete_json("p", SCHEMA, max_tokens=8).text == '{"ok": true}'
    with pytest.raises(AnswerMissingError) as missing:
        cached.complete_json("other", SCHEMA, max_tokens=8)
    assert missing.value.key == cached.key("other", SCHEMA, 8)
