"""LLM failures a worker makes visible: the reason in its log and in the decision record; a too-small context
refused at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agents.cli.main import main
from agents.worker_process import PROJECT_ROOT, WorkerProcess
from schemas import DecisionRecord, GeoPoint, OrderEvent, TimeWindow, VehicleEvent
from tests.support import IsolatedEngine, consume_all, llama_server, produce, wait_for

pytestmark = pytest.mark.integration

ROUTES = {"ENGINE_ROUTE__ENABLED": "true", "ENGINE_CYCLE_SECONDS": "4", "ENGINE_ROUTE__LLM_S": "1.5",
          "ENGINE_ROUTE__IMPROVE_S": "0.5", "ENGINE_ROUTE__SOLVER_S": "0.5", "ENGINE_ROUTE__SEARCH_PROCESSES": "1"}


@pytest.fixture(scope="module")
def small_server(tiny_granite: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's own server (llama-cpp-python) with a 512-token context; yields its root URL (no /v1)."""
    with llama_server(tiny_granite[1], 512, tmp_path_factory.mktemp("small-server") / "server.log") as root:
        yield root


def feed(engine: IsolatedEngine, fleet: str, orders: int) -> None:
    now = datetime.now(UTC)
    shift = TimeWindow(start=now - timedelta(hours=1), end=now + timedelta(hours=8))
    vans = [VehicleEvent(event_id=f"{fleet}-v{i}", fleet_id=fleet, vehicle_id=f"v{i}", occurred_at=now,
                         position=GeoPoint(lat=53.4 + 0.01 * i, lon=-2.99), capacity=20, shift=shift)
            for i in range(2)]
    order_events = [OrderEvent(event_id=f"{fleet}-o{i}", action="create", fleet_id=fleet, order_id=f"o{i}",
                               occurred_at=now, location=GeoPoint(lat=53.4 + 0.003 * i, lon=-2.98), demand=1,
                               time_window=TimeWindow(start=now, end=now + timedelta(hours=4)), service_time_s=60)
                    for i in range(orders)]
    produce(engine.settings.topics.vehicles, [(fleet.encode(), v.to_bytes()) for v in vans])
    produce(engine.settings.topics.orders, [(fleet.encode(), o.to_bytes()) for o in order_events])


def test_context_exceeded_reason_in_log_record_and_metrics(services: None, tmp_path: Path, small_server: str,
                                                           tiny_granite: tuple[Path, Path]) -> None:
    """A server whose context is smaller than the prompt answers HTTP 400 context_length_exceeded: the worker
    (given the root URL without /v1) logs that reason with fleet and backend, puts it in the decision record's
    llm_failure, counts it under outcome context_exceeded, and still publishes a plan."""
    engine = IsolatedEngine.create(tmp_path / "state", **ROUTES, ENGINE_LLM__BACKEND="openai",
                                   ENGINE_LLM__BASE_URL=small_server, ENGINE_LLM__N_CTX="8192",
                                   ENGINE_LLM__MAX_TOKENS="256", ENGINE_LLM__ANSWER_CACHE="false",
                                   ENGINE_LLM__MODEL_PATH=str(tiny_granite[1]))
    worker = WorkerProcess(engine.env, tmp_path / "worker.log")
    worker.start()
    try:
        feed(engine, "fleet-x", orders=12)
        records = wait_for(lambda: [d for r in consume_all(engine.settings.topics.decisions)
                                    if (d := DecisionRecord.from_bytes(r.value or b"")).llm_failure], 60,
                           "a decision record with an LLM failure")
        failure = records[0].llm_failure or ""
        assert failure.startswith(f"LLM server {small_server}/v1/chat/completions: HTTP 400 context_length_exceeded:")
        assert "maximum context length is 512 tokens" in failure
        assert records[0].published and records[0].llm_asked is True and records[0].llm_parse_ok is False
        log = worker.log_tail(400)
        assert "fleet fleet-x: LLM request failed (backend openai): LLM server" in log
        assert "HTTP 400 context_length_exceeded: This model's maximum context length is 512 tokens" in log
        metrics = httpx.get(f"http://127.0.0.1:{engine.settings.worker_web_port}/metrics", timeout=10).text
        counted = [line for line in metrics.splitlines()
                   if line.startswith('route_llm_requests_total{outcome="context_exceeded"}')]
        assert counted and float(counted[0].split()[-1]) >= 1
    finally:
        worker.stop()


def test_context_too_small_for_any_prompt_refused_at_start(services: None, tmp_path: Path,
                                                           tiny_granite: tuple[Path, Path]) -> None:
    """An in-process context that cannot hold the smallest route prompt plus the answer stops the worker at
    start-up with one line naming ENGINE_LLM__N_CTX, exit 2."""
    engine = IsolatedEngine.create(tmp_path / "state", **ROUTES, ENGINE_LLM__N_CTX="768", ENGINE_LLM__MAX_TOKENS="256",
                                   ENGINE_LLM__MODEL_PATH=str(tiny_granite[1]))
    done = subprocess.run([sys.executable, "-m", "agents", "worker"], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **engine.env}, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and errors[0].startswith("error: ENGINE_LLM__N_CTX: ")
    assert "context too small: prompt " in errors[0] and "+ answer 256 tokens > n_ctx 768" in errors[0]


def test_llm_check_reports_the_server_and_its_model(small_server: str, tiny_granite: tuple[Path, Path],
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`engine llm-check` on the HTTP backend (root URL, no /v1) names the server it talked to, the models it
    serves and the model that answered."""
    monkeypatch.setenv("ENGINE_LLM__BACKEND", "openai")
    monkeypatch.setenv("ENGINE_LLM__BASE_URL", small_server)
    assert main(["llm-check"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["server"] == f"{small_server}/v1" and report["backend"] == "openai"
    assert [Path(m).name for m in report["served_models"]] == [tiny_granite[1].name]  # /v1/models: its GGUF
    assert report["requested_model"] == "granite-4.0-h-micro" and report["model"]  # the answer's own `model`
    assert report["context_tokens"] == 4096 and json.loads(report["answer"])["vehicle"] in ("van-1", "van-2")
