"""Tests of the command line (`engine ...`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agents.cli.main import main
from schemas import WIRE_MODELS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ENGINE_* variable from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("ENGINE_"):
            monkeypatch.delenv(name)


def test_schema_writes_one_file_per_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`schema --out DIR` writes a JSON Schema file for every wire model, and prints each path."""
    out = tmp_path / "schemas" / "v1"
    assert main(["schema", "--out", str(out)]) == 0
    written = {p.name.removesuffix(".schema.json") for p in out.glob("*.schema.json")}
    assert written == set(WIRE_MODELS)
    assert sorted(capsys.readouterr().out.split()) == sorted(str(out / f"{n}.schema.json") for n in WIRE_MODELS)


@pytest.mark.parametrize("name", list(WIRE_MODELS))
def test_schema_files_are_json_schemas(tmp_path: Path, name: str) -> None:
    """Each written file is valid JSON with properties that include schema_version."""
    main(["schema", "--out", str(tmp_path)])
    schema = json.loads((tmp_path / f"{name}.schema.json").read_text())
    assert "schema_version" in schema["properties"]
    assert schema == WIRE_MODELS[name].model_json_schema()


def test_schema_is_deterministic(tmp_path: Path) -> None:
    """Running the command twice gives byte-identical files (safe to commit and diff)."""
    main(["schema", "--out", str(tmp_path / "a")])
    main(["schema", "--out", str(tmp_path / "b")])
    for name in WIRE_MODELS:
        first = (tmp_path / "a" / f"{name}.schema.json").read_bytes()
        assert first == (tmp_path / "b" / f"{name}.schema.json").read_bytes()


def test_bad_setting_fails_before_touching_kafka(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong setting stops `worker` at start-up with exit code 2 and the variable's name, before the worker runs."""
    started: list[object] = []
    monkeypatch.setattr("agents.worker.run_worker", started.append)
    monkeypatch.setenv("ENGINE_CYCLE_SECONDS", "-1")
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "ENGINE_CYCLE_SECONDS" in err
    assert started == []


def test_unknown_setting_stops_the_worker(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt ENGINE_ variable stops `worker` with exit code 2 and names the typo."""
    started: list[object] = []
    monkeypatch.setattr("agents.worker.run_worker", started.append)
    monkeypatch.setenv("ENGINE_CYCLE_SECOND", "5")
    assert main(["worker"]) == 2
    assert "ENGINE_CYCLE_SECOND" in capsys.readouterr().err
    assert started == []


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command argparse exits with its usage error code."""
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_llm_check_runs_the_configured_model(monkeypatch: pytest.MonkeyPatch, tiny_granite: tuple[Path, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`llm-check` loads the GGUF named by ENGINE_LLM__MODEL_PATH and prints a JSON answer."""
    monkeypatch.setenv("ENGINE_LLM__MODEL_PATH", str(tiny_granite[1]))
    assert main(["llm-check"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert json.loads(report["answer"])["vehicle"] in ("van-1", "van-2")


@pytest.mark.integration
def test_fraud_block_adds_lists_and_removes(services: None, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`fraud block` writes the Redis block lists the worker reads, prints them, and --remove takes ids off."""
    monkeypatch.setenv("ENGINE_REDIS_PREFIX", f"test-cli-{os.getpid()}")
    assert main(["fraud", "block", "--terminal", "t1", "--terminal", "t2", "--customer", "c9"]) == 0
    assert json.loads(capsys.readouterr().out) == {"customers": ["c9"], "terminals": ["t1", "t2"]}
    assert main(["fraud", "block", "--terminal", "t1", "--remove"]) == 0
    assert json.loads(capsys.readouterr().out) == {"customers": ["c9"], "terminals": ["t2"]}
    assert main(["fraud", "block", "--terminal", "t2", "--customer", "c9", "--remove"]) == 0
    assert json.loads(capsys.readouterr().out) == {"customers": [], "terminals": []}


def test_worker_without_fraud_model_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Fraud scoring switched on without a trained model stops with exit 2 and the command that trains one."""
    monkeypatch.setenv("ENGINE_FRAUD__ENABLED", "true")
    monkeypatch.setenv("ENGINE_FRAUD__REVIEW_ENABLED", "false")
    monkeypatch.setenv("ENGINE_ROUTE__ENABLED", "false")
    monkeypatch.setenv("ENGINE_FRAUD__MODEL_DIR", str(tmp_path / "none"))
    assert main(["worker"]) == 2
    assert "engine fraud train" in capsys.readouterr().err


def test_bench_runs_the_benchmarks_kept_apart(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """`bench ...` runs benchmarks/ (not packaged) as a child; its user errors are one line with exit 2."""
    missing = tmp_path / "none.txt"
    assert main(["bench", "routes", "--instances", str(missing)]) == 2
    err = capfd.readouterr().err.strip()
    assert err == f"error: --instances {missing} does not exist"


@pytest.mark.parametrize("argv", [["demo", "--duration", "-5"], ["demo", "--fleets", "0"], ["demo", "--rate", "0"],
                                  ["replay", "x.log", "--speed", "0"], ["fraud", "train", "--limit", "0"]])
def test_impossible_options_are_refused_up_front(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Option values that cannot work are refused by the parser (exit 2) before anything starts."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "must be" in capsys.readouterr().err


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder as LOG, --out into a missing folder: one `error:` line naming the problem, exit 2."""
    assert main(["backtest", str(tmp_path), "--out", str(tmp_path / "out.jsonl")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path} is a folder, not a file\n"
    log = tmp_path / "run.log.zst"
    log.write_bytes(b"")
    assert main(["backtest", str(log), "--out", str(tmp_path / "missing" / "out.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist (create it first)" in err
