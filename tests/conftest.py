"""Fixtures shared by every test folder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack import ServiceError, all_services
from models.tiny_granite import F32_NAME, build_tiny_granite
from tests.support import IsolatedEngine, WorkerProcess


@pytest.fixture(scope="session")
def services() -> None:
    """The real local Kafka and Redis, started if they are not running (never mocked)."""
    for service in all_services():
        if not service.healthy():
            try:
                service.start()
            except ServiceError as error:
                pytest.fail(f"integration tests need {service.name}: {error}")


@pytest.fixture
def engine(services: None, tmp_path: Path) -> IsolatedEngine:
    """Settings with topics, consumer group and Redis keys private to one test."""
    return IsolatedEngine.create(tmp_path / "worker-state")


@pytest.fixture
def worker(engine: IsolatedEngine, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A real `engine worker` process for this test's engine (stopped afterwards)."""
    process = WorkerProcess(engine, tmp_path / "worker.log")
    yield process
    if process.process is not None:
        process.stop()


@pytest.fixture(scope="session")
def tiny_granite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(F32 path, Q4_K_M path) of the seed-0 tiny Granite, built once per test session."""
    f32 = tmp_path_factory.getbasetemp() / "tiny-granite" / F32_NAME
    return f32, build_tiny_granite(f32)


@pytest.fixture
def canned_server() -> Iterator[Callable[..., str]]:
    """A local HTTP server answering every POST with a canned status and body (after delay_s); returns a /v1 URL."""
    servers: list[ThreadingHTTPServer] = []

    def serve(status: int, body: bytes, delay_s: float = 0.0) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def fraud_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small fraud model trained on the handbook data, once per test session."""
    from tests.fraud_factories import DATA, train_small_model

    if not DATA.exists():
        pytest.fail(f"data missing: {DATA}")
    return train_small_model(tmp_path_factory.mktemp("fraud-model"))
