"""Tests of the command line (`python -m engine ...`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.__main__ import main
from schemas import WIRE_MODELS


def test_schema_writes_one_file_per_model(tmp_path: Path) -> None:
    """`schema --out DIR` writes a JSON Schema file for every wire model."""
    assert main(["schema", "--out", str(tmp_path)]) == 0
    written = {p.name.removesuffix(".schema.json") for p in tmp_path.glob("*.schema.json")}
    assert written == set(WIRE_MODELS)
    order_schema = json.loads((tmp_path / "OrderEvent.schema.json").read_text())
    assert "schema_version" in order_schema["properties"]


def test_bad_setting_fails_before_touching_kafka(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong setting stops `worker` at start-up with exit code 2 and the variable's name."""
    monkeypatch.setenv("ENGINE_CYCLE_SECONDS", "-1")
    assert main(["worker"]) == 2
    assert "ENGINE_CYCLE_SECONDS" in capsys.readouterr().err


def test_llm_check_runs_the_configured_model(monkeypatch: pytest.MonkeyPatch, tiny_granite: tuple[Path, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`llm-check` loads the GGUF named by ENGINE_LLM__MODEL_PATH and prints a JSON answer."""
    monkeypatch.setenv("ENGINE_LLM__MODEL_PATH", str(tiny_granite[1]))
    assert main(["llm-check"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert json.loads(report["answer"])["vehicle"] in ("van-1", "van-2")
