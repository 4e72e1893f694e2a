"""Fault-suite fixtures: a scenario run with private topics, and where each scenario's figures are written."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.chaos import ChaosRun, PrivateStack
from tests.support import ROOT, IsolatedEngine, free_port

FIGURES_DIR = ROOT / "out" / "faults"


@pytest.fixture
def chaos_run(services: None, tmp_path: Path) -> Iterator[ChaosRun]:
    """A scenario's settings (private topics, consumer group, Redis keys); its workers are killed afterwards."""
    run = ChaosRun(dict(IsolatedEngine.create(tmp_path / "state").env), tmp_path)
    yield run
    run.stop_all()


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[PrivateStack]:
    """A Kafka and a Redis of this test only, so killing them disturbs nothing else."""
    stack = PrivateStack(tmp_path / "stack", free_port)
    stack.start("redis")
    stack.start("kafka")
    yield stack
    stack.stop_all()


def _record(figures: dict[str, Any]) -> dict[str, Any]:
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    (FIGURES_DIR / f"{figures['scenario']}.json").write_text(json.dumps(figures, indent=2, default=str))
    print(json.dumps(figures, default=str))
    return figures


@pytest.fixture
def record_figures() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Keeps a scenario's figures under out/faults/ (docs/reliability.md quotes them) and returns them."""
    return _record
