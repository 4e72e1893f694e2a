"""Backtest series: route decisions -> per-fleet arrays in event-time order, and the PNG drawn from them."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.replay.backtest_plot import draw_backtest
from engine.replay.backtest_series import fleet_series, read_series

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def route(fleet: str, cycle: int, source: str | None, *, cost: float = 100.0, unassigned: int = 0) -> dict[str, Any]:
    """A decision-file route line as `engine backtest` writes it (only the fields the series read)."""
    at = (T0 + timedelta(seconds=15 * cycle)).isoformat()
    plan = None if source is None else {"cost": cost, "source": source, "routes": [],
                                        "unassigned": [{"order_id": f"o{i}", "reason": "x"} for i in range(unassigned)]}
    return {"kind": "route", "fleet_id": fleet, "cycle_at": at, "plan": plan,
            "record": {"chosen_source": source, "published": plan is not None}}


ITEMS = [
    {"kind": "backtest"},
    route("b", 1, "solver", cost=90.0, unassigned=2),
    route("a", 0, "llm", cost=120.0),
    route("a", 2, "previous_plan", cost=100.0, unassigned=1),
    route("a", 1, "llm_repaired", cost=110.0),
    route("b", 0, None),
    route("a", 3, None),
    {"kind": "fraud_score", "score": {}},
    {"kind": "summary"},
]


def test_series_per_fleet_in_event_time_order() -> None:
    """Each fleet's cycles sorted by time (whatever the file order); other kinds ignored; NaN where no plan."""
    series = fleet_series(ITEMS)
    assert list(series) == ["a", "b"]
    a, b = series["a"], series["b"]
    assert len(a) == 4 and len(b) == 2
    assert a.times.tolist() == [(T0 + timedelta(seconds=15 * i)).replace(tzinfo=None) for i in range(4)]
    assert a.cost[:3].tolist() == [120.0, 110.0, 100.0] and math.isnan(a.cost[3])
    assert a.unassigned[:3].tolist() == [0.0, 0.0, 1.0] and math.isnan(a.unassigned[3])
    assert math.isnan(b.cost[0]) and b.cost[1] == 90.0 and b.unassigned[1] == 2.0


def test_llm_acceptance_counts_proposed_and_repaired_plans() -> None:
    """The running share of cycles whose chosen plan is the LLM's (llm or llm_repaired): a: 1, 1, 2/3, 2/4."""
    series = fleet_series(ITEMS)
    assert series["a"].llm_chosen.tolist() == [True, True, False, False]
    np.testing.assert_allclose(series["a"].llm_acceptance, [1.0, 1.0, 2 / 3, 0.5])
    assert series["b"].llm_acceptance.tolist() == [0.0, 0.0]


def test_read_series_names_a_bad_line(tmp_path: Path) -> None:
    """A line that is not JSON: ValueError with the file and line number."""
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps(ITEMS[0]) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"out\.jsonl:2: not a backtest decision line"):
        read_series(path)


def test_plot_is_a_png_with_and_without_decisions(tmp_path: Path) -> None:
    """The drawing writes a PNG for two fleets, and also (with a note) when there is no route decision at all."""
    for name, series in (("two.png", fleet_series(ITEMS)), ("none.png", {})):
        out = draw_backtest(series, tmp_path / name, "test")
        data = out.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
