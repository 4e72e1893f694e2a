"""Backtest series: a decision file's route decisions as numpy arrays per fleet, in event-time order.

Per cycle of a fleet: the published plan's cost and unassigned orders (NaN where nothing was published) and whether
the chosen plan came from the LLM (as proposed or repaired: DecisionRecord.chosen_source); llm_acceptance is the
running share of the fleet's cycles so far whose chosen plan came from the LLM.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.replay.backtest_diff import LLM_SOURCES


@dataclass(frozen=True)
class FleetSeries:
    """One fleet's route cycles: event times (UTC, datetime64[ms]) and one value per cycle for each metric."""

    fleet_id: str
    times: npt.NDArray[np.datetime64]
    cost: npt.NDArray[np.float64]
    unassigned: npt.NDArray[np.float64]
    llm_chosen: npt.NDArray[np.bool_]

    @property
    def llm_acceptance(self) -> npt.NDArray[np.float64]:
        """Running share of cycles so far whose chosen plan came from the LLM (proposed or repaired)."""
        cycles = np.arange(1, len(self.llm_chosen) + 1, dtype=np.float64)
        return np.cumsum(self.llm_chosen, dtype=np.float64) / cycles

    def __len__(self) -> int:
        return len(self.times)


def _utc_naive(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return (at.astimezone(UTC) if at.tzinfo else at).replace(tzinfo=None)  # numpy keeps no zone: all UTC


def fleet_series(items: Iterable[dict[str, Any]]) -> dict[str, FleetSeries]:
    """The route decisions among a decision file's items, per fleet (sorted by id), each in cycle order."""
    rows: dict[str, list[tuple[datetime, float, float, bool]]] = {}
    for item in items:
        if item.get("kind") != "route":
            continue
        plan, record = item["plan"], item["record"]
        cost = float(plan["cost"]) if plan is not None else np.nan
        unassigned = float(len(plan["unassigned"])) if plan is not None else np.nan
        chosen = plan is not None and record.get("chosen_source") in LLM_SOURCES
        rows.setdefault(item["fleet_id"], []).append((_utc_naive(item["cycle_at"]), cost, unassigned, chosen))
    series = {}
    for fleet_id in sorted(rows):
        cycles = sorted(rows[fleet_id], key=lambda row: row[0])
        series[fleet_id] = FleetSeries(
            fleet_id=fleet_id,
            times=np.array([row[0] for row in cycles], dtype="datetime64[ms]"),
            cost=np.array([row[1] for row in cycles], dtype=np.float64),
            unassigned=np.array([row[2] for row in cycles], dtype=np.float64),
            llm_chosen=np.array([row[3] for row in cycles], dtype=np.bool_),
        )
    return series


def read_series(path: Path) -> dict[str, FleetSeries]:
    """fleet_series of an `engine backtest` decision file; ValueError names the file and line of a bad one."""
    items = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                items.append(json.loads(line))
            except ValueError as error:
                raise ValueError(f"{path}:{number}: not a backtest decision line ({error})") from error
    try:
        return fleet_series(items)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: a route decision lacks a field ({error!r}): is it an `engine backtest` "
                         "output?") from error
