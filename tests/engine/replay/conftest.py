"""Backtests of the shipped taxi sample, run once per session and shared by the backtest and diff tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.llm.answer_cache import FileAnswerCache
from engine.replay.backtest import BacktestRun, run_backtest
from engine.settings import load_settings_with

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "examples" / "taxi-sample.log.zst"
SAMPLE_ANSWERS = ROOT / "examples" / "taxi-sample.log.zst.answers.jsonl"


@dataclass(frozen=True)
class SampleRuns:
    """Two identical backtests of the sample and one with a smaller solver budget (answers from the cache)."""

    first: Path
    second: Path
    small_budget: Path
    first_run: BacktestRun


@pytest.fixture(scope="session")
def sample_runs(tmp_path_factory: pytest.TempPathFactory) -> SampleRuns:
    folder = tmp_path_factory.mktemp("sample-backtests")
    runs = []
    small = {"ENGINE_ROUTE__IMPROVE_SOLUTIONS": "1", "ENGINE_ROUTE__SOLVER_ITERATIONS": "2"}
    for name, env in (("first", {}), ("second", {}), ("small_budget", small)):
        out = folder / f"{name}.jsonl"
        cache = FileAnswerCache(SAMPLE_ANSWERS)  # read only: ask_model=False never adds an answer
        runs.append((out, run_backtest(load_settings_with(env), SAMPLE, out, cache=cache, ask_model=False)))
    return SampleRuns(runs[0][0], runs[1][0], runs[2][0], runs[0][1])
