"""BacktestDiff: two decision files side by side — plan cost, feasibility, acceptance, unassigned, fraud metrics."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LLM_SOURCES = ("llm", "llm_repaired")


@dataclass
class CycleResult:
    """One route decision as the diff sees it."""

    published: bool
    cost: float | None
    unassigned: int
    candidates: int
    feasible_candidates: int
    llm_proposed: bool
    llm_feasible: bool
    chosen_source: str | None
    plan: Any


@dataclass
class BacktestResult:
    """A decision file read back: its header, route decisions by (fleet, cycle), fraud scores, summary."""

    path: Path
    header: dict[str, Any] = field(default_factory=dict)
    cycles: dict[tuple[str, str], CycleResult] = field(default_factory=dict)
    fraud_scores: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> BacktestResult:
        """Parse a `engine backtest` output; ValueError names the file and line of anything else."""
        result = cls(path)
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                try:
                    item = json.loads(line)
                    result._take(item)
                except (ValueError, KeyError, TypeError) as error:
                    raise ValueError(f"{path}:{number}: not a backtest decision line ({error!r})") from error
        if not result.header:
            raise ValueError(f"{path}: no backtest header line (is it a `engine backtest` output?)")
        if not result.summary:
            raise ValueError(f"{path}: no summary line: the backtest did not finish")
        return result

    def _take(self, item: dict[str, Any]) -> None:
        kind = item["kind"]
        if kind == "backtest":
            self.header = item
        elif kind == "route":
            record, plan = item["record"], item["plan"]
            candidates = record["candidates"]
            llm = [c for c in candidates if c["source"] == "llm"]
            self.cycles[(item["fleet_id"], item["cycle_at"])] = CycleResult(
                published=plan is not None, cost=plan["cost"] if plan else None,
                unassigned=len(plan["unassigned"]) if plan else 0, candidates=len(candidates),
                feasible_candidates=sum(c["feasible"] for c in candidates),
                llm_proposed=record["prompt_hash"] is not None, llm_feasible=any(c["feasible"] for c in llm),
                chosen_source=record["chosen_source"], plan=plan)
        elif kind == "fraud_score":
            score = item["score"]
            self.fraud_scores[score["transaction_id"]] = score["score"]
        elif kind == "summary":
            self.summary = item

    def totals(self) -> dict[str, float]:
        """Rates and sums over all route cycles (nan where there is nothing to divide by)."""
        cycles = list(self.cycles.values())
        published = [c for c in cycles if c.published]
        proposed = [c for c in cycles if c.llm_proposed]
        candidates = sum(c.candidates for c in cycles)
        return {
            "route_cycles": len(cycles),
            "published_rate": _rate(len(published), len(cycles)),
            "mean_cost": _rate(sum(c.cost or 0.0 for c in published), len(published)),
            "total_unassigned": sum(c.unassigned for c in cycles),
            "feasible_candidate_rate": _rate(sum(c.feasible_candidates for c in cycles), candidates),
            "llm_feasible_rate": _rate(sum(c.llm_feasible for c in proposed), len(proposed)),
            "llm_chosen_rate": _rate(sum(c.chosen_source in LLM_SOURCES for c in proposed), len(proposed)),
            "fraud_scored": len(self.fraud_scores),
            "fraud_alerts": self.summary.get("alerts", 0),
            **{f"fraud_{k}": v for k, v in self.summary.get("fraud_metrics", {}).items()},
        }


def _rate(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else math.nan


@dataclass
class BacktestDiff:
    """What differs between run A and run B, per cycle and in total."""

    a: BacktestResult
    b: BacktestResult

    def common_cycles(self) -> list[tuple[str, str]]:
        return sorted(self.a.cycles.keys() & self.b.cycles.keys(), key=lambda k: (k[1], k[0]))

    def changed_plans(self) -> list[tuple[str, str]]:
        return [k for k in self.common_cycles() if self.a.cycles[k].plan != self.b.cycles[k].plan]

    def changed_scores(self) -> int:
        both = self.a.fraud_scores.keys() & self.b.fraud_scores.keys()
        return sum(self.a.fraud_scores[t] != self.b.fraud_scores[t] for t in both)

    def per_cycle(self) -> list[dict[str, Any]]:
        """One row per cycle both runs decided: cost and unassigned in each."""
        rows = []
        for key in self.common_cycles():
            a, b = self.a.cycles[key], self.b.cycles[key]
            rows.append({"fleet_id": key[0], "cycle_at": key[1], "cost_a": a.cost, "cost_b": b.cost,
                         "unassigned_a": a.unassigned, "unassigned_b": b.unassigned,
                         "source_a": a.chosen_source, "source_b": b.chosen_source})
        return rows

    def report(self) -> dict[str, Any]:
        """Totals of A and B, their difference, and the counts of what changed."""
        ta, tb = self.a.totals(), self.b.totals()
        only_a = len(self.a.cycles.keys() - self.b.cycles.keys())
        only_b = len(self.b.cycles.keys() - self.a.cycles.keys())
        changed = self.changed_plans()
        cost_deltas = [(r["cost_b"] or 0.0) - (r["cost_a"] or 0.0) for r in self.per_cycle()]
        return {
            "a": str(self.a.path), "b": str(self.b.path),
            "totals_a": ta, "totals_b": tb,
            "delta": {k: _delta(ta[k], tb.get(k)) for k in ta if k in tb},
            "cycles_compared": len(self.common_cycles()), "cycles_only_in_a": only_a, "cycles_only_in_b": only_b,
            "plans_changed": len(changed), "cost_better_in_b": sum(d < 0 for d in cost_deltas),
            "cost_worse_in_b": sum(d > 0 for d in cost_deltas), "fraud_scores_changed": self.changed_scores(),
            "identical": not changed and not only_a and not only_b and not self.changed_scores()
                         and self.a.fraud_scores.keys() == self.b.fraud_scores.keys(),
        }

    def plot(self, out: Path) -> Path:
        """A PNG: plan cost per cycle of A and B, and unassigned orders per cycle."""
        import matplotlib

        matplotlib.use("Agg")  # files only: no display on a server
        import matplotlib.pyplot as plt

        rows = self.per_cycle()
        x = range(len(rows))
        figure, (cost_axis, unassigned_axis) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
        for side, style in (("a", "-"), ("b", "--")):
            path = getattr(self, side).path.name
            cost_axis.plot(x, [r[f"cost_{side}"] if r[f"cost_{side}"] is not None else math.nan for r in rows],
                           style, label=f"{side.upper()}: {path}")
            unassigned_axis.plot(x, [r[f"unassigned_{side}"] for r in rows], style, label=side.upper())
        cost_axis.set_ylabel("plan cost (s of travel)")
        cost_axis.legend(loc="upper left", fontsize="small")
        unassigned_axis.set_ylabel("unassigned orders")
        unassigned_axis.set_xlabel("decision (fleet and event-time cycle, in time order)")
        figure.suptitle(f"{len(self.changed_plans())} of {len(rows)} plans differ")
        figure.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, dpi=100)
        plt.close(figure)
        return out


def _delta(a: float, b: float | None) -> float | None:
    if b is None or isinstance(a, str) or math.isnan(a) or math.isnan(b):
        return None
    return round(b - a, 4)
