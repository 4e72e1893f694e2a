"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
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
    """A real `python -m engine worker` process for this test's engine (stopped afterwards)."""
    process = WorkerProcess(engine, tmp_path / "worker.log")
    yield process
    if process.process is not None:
        process.stop()


@pytest.fixture(scope="session")
def tiny_granite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(F32 path, Q4_K_M path) of the seed-0 tiny Granite, built once per test session."""
    f32 = tmp_path_factory.getbasetemp() / "tiny-granite" / F32_NAME
    return f32, build_tiny_granite(f32)
