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


def test_bench_help_is_the_benchmarks_own(capfd: pytest.CaptureFixture[str]) -> None:
    """`bench -h` is answered by the benchmarks' parser: exit 0 and every benchmark listed."""
    assert main(["bench", "-h"]) == 0
    out = capfd.readouterr().out
    assert all(name in out for name in ("routes", "cycle", "instance", "ingest", "stream", "fraud", "replay"))


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


@pytest.fixture
def user_files(tmp_path: Path) -> Path:
    """A folder of things users pass by mistake: a folder, a text file, a binary file, a header-only (interrupted)
    log, a one-record log of `orders`, a corrupt progress file, a minimal decisions file."""
    from engine.replay.event_log import EventLogWriter, LogRecord

    (tmp_path / "folder").mkdir()
    (tmp_path / "text.txt").write_text("hello\n")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    with EventLogWriter(tmp_path / "orders.log.zst", {"topics": ["orders"]}) as writer:
        writer.append(LogRecord("orders", 0, 0, 1_767_225_600_000, b"f", b"{}"))
    EventLogWriter(tmp_path / "cut.log.zst", {"topics": ["orders"]}).flush()  # killed before its first record
    (tmp_path / "progress.json").write_text("{oops")
    (tmp_path / "decisions.jsonl").write_text('{"kind":"backtest"}\n{"kind":"summary"}\n')
    return tmp_path


USER_ERRORS = [
    (["backtest", "{d}/missing.log", "--out", "{d}/o.jsonl"], "{d}/missing.log does not exist"),
    (["backtest", "{d}/orders.log.zst", "--out", "{d}/folder"], "--out {d}/folder is a folder"),
    (["backtest", "{d}/orders.log.zst", "--out", "{d}/orders.log.zst"], "is the log itself"),
    (["backtest", "{d}/text.txt", "--out", "{d}/o.jsonl"], "{d}/text.txt is not an event log"),
    (["backtest", "{d}/cut.log.zst", "--out", "{d}/o.jsonl", "--llm", "none"], "(--allow-truncated backtests"),
    (["backtest", "{d}/orders.log.zst", "--out", "{d}/o.jsonl", "--reproduce", "--llm", "none"],
     "no records of topic decisions (it holds orders): record it too (engine record --topic decisions"),
    (["backtest", "{d}/orders.log.zst", "--out", "{d}/o.jsonl", "--llm-cache", "{d}/folder"],
     "--llm-cache {d}/folder is a folder"),
    (["backtest", "{d}/orders.log.zst", "--out", "{d}/o.jsonl", "--llm-cache", "{d}/blob.bin"],
     "{d}/blob.bin is not a JSON-lines text file"),
    (["backtest", "{d}/orders.log.zst", "--out", "{d}/o.jsonl", "--llm-cache", "{d}/none/a.jsonl"],
     "folder {d}/none does not exist (create it first)"),
    (["replay", "{d}/missing.log"], "{d}/missing.log does not exist"),
    (["replay", "{d}/folder"], "{d}/folder is a folder, not a file"),
    (["replay", "{d}/text.txt"], "{d}/text.txt is not an event log"),
    (["replay", "{d}/cut.log.zst"], "(--allow-truncated replays what it holds)"),
    (["replay", "{d}/orders.log.zst", "--progress-file", "{d}/none/p.json"], "folder {d}/none does not exist"),
    (["replay", "{d}/orders.log.zst", "--progress-file", "{d}/progress.json"],
     "{d}/progress.json is not a replay progress file"),
    (["replay", "{d}/orders.log.zst", "--rename", "order=orders-test"], "--rename order: not a topic of"),
    (["record", "--topic", "orders", "--out", "{d}/none/r.log.zst"], "folder {d}/none does not exist"),
    (["record", "--topic", "orders", "--out", "{d}/folder"], "--out {d}/folder is a folder"),
    (["record", "--topic", "orders", "--out", "{d}/r.log.zst", "--since", "2026-03-02T09:00:00Z", "--until",
      "2026-03-02T08:00:00Z"], "is before --since"),
    (["record", "--topic", "orders", "--out", "{d}/r.log.zst", "--start", "orders:-1:5"],
     "--start orders:-1:5: partition and offset must be 0 or more"),
    (["diff", "{d}/blob.bin", "{d}/decisions.jsonl"], "{d}/blob.bin is binary, not a backtest's decisions file"),
    (["diff", "{d}/orders.log.zst", "{d}/decisions.jsonl"], "backtest it first: engine backtest"),
    (["diff", "{d}/missing.jsonl", "{d}/decisions.jsonl"], "{d}/missing.jsonl does not exist"),
    (["diff", "{d}/decisions.jsonl", "{d}/decisions.jsonl", "--json", "{d}/none/r.json"],
     "--json {d}/none/r.json: folder {d}/none does not exist"),
    (["diff", "{d}/decisions.jsonl", "{d}/decisions.jsonl", "--plot", "{d}/folder"], "--plot {d}/folder is a folder"),
    (["logs", "fraud", "--out", "{d}/none/f.log.zst"], "--out {d}/none/f.log.zst: folder {d}/none does not exist"),
    (["logs", "taxi", "--out", "{d}/folder"], "--out {d}/folder is a folder: give a file name"),
    (["logs", "fraud", "--out", "{d}/f.log.zst", "--first-day", "5", "--last-day", "2"],
     "--last-day 2 is before --first-day 5"),
    (["logs", "bus", "--out", "{d}/b.log.zst", "--gps", "{d}/missing.csv"], "--gps {d}/missing.csv does not exist"),
    (["schema", "--out", "{d}/text.txt"], "--out {d}/text.txt is a file: give a folder"),
    (["fraud", "train", "--data", "{d}/missing.csv"], "--data {d}/missing.csv does not exist"),
    (["fraud", "train", "--out", "{d}/text.txt"], "--out {d}/text.txt is a file"),
    (["fraud", "train", "--data", "{d}/text.txt", "--out", "{d}/models"], "holds no handbook transactions"),
    (["fraud", "train", "--data", "{data}", "--limit", "2000", "--out", "{d}/models"],
     "--limit 2000: the first 2000 transactions cover days 0-0; training needs frauds in days 0-13 and the test "
     "needs days 21-27: read more of them"),
]


@pytest.mark.parametrize(("argv", "message"), USER_ERRORS, ids=[" ".join(a[:3]) + f" #{i}"
                                                                for i, (a, _) in enumerate(USER_ERRORS)])
def test_each_user_error_is_one_line_naming_the_problem(argv: list[str], message: str, user_files: Path,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    """Bad paths and impossible options of record, replay, backtest, diff, logs, schema and fraud train: exit 2, one
    `error:` line that names the problem (and the fix), no traceback, nothing left behind."""
    from tests.fraud_factories import DATA

    before = sorted(p.name for p in user_files.iterdir())
    names = {"d": str(user_files), "data": str(DATA)}
    assert main([part.format(**names) for part in argv]) == 2
    err = capfd.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message.format(**names) in err
    assert sorted(p.name for p in user_files.iterdir()) == before


@pytest.mark.parametrize("argv", [["record", "--topic", "orders", "--out", "{d}/r.log.zst"],
                                  ["replay", "{d}/orders.log.zst", "--fast"]])
def test_kafka_that_cannot_be_reached_is_one_line(argv: list[str], user_files: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    """record and replay with a broker address nothing listens on: one line naming it and the fix, exit 2."""
    monkeypatch.setenv("ENGINE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main([part.format(d=user_files) for part in argv]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Kafka at 127.0.0.1:1 failed") and "engine services" in err


@pytest.mark.integration
def test_record_of_a_topic_that_does_not_exist_is_one_line(services: None, tmp_path: Path,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    """`record --topic` with a name the broker does not have: one line naming it, exit 2, no empty log left."""
    out = tmp_path / "r.log.zst"
    assert main(["record", "--topic", "no-such-topic-at-all", "--out", str(out)]) == 2
    err = capfd.readouterr().err
    assert err.startswith("error: --topic no-such-topic-at-all: no such topic on the broker") and err.count("\n") == 1
    assert not out.exists()
