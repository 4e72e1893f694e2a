"""BacktestDiff: two decision files side by side — plan cost, feasibility, acceptance, unassigned, fraud metrics.

A cycle is better in B as the cycle's own choice would rank it: a published plan over none, then fewer unassigned
orders whatever the cost, and only then the lower cost.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

LLM_SOURCES = ("llm", "llm_repaired")


@dataclass
class CycleResult:
    """One route decision as the diff sees it."""

    published: bool
    cost: float | None
    unassigned: int
    served: int
    candidates: int
    feasible_candidates: int
    llm_proposed: bool
    llm_feasible: bool
    chosen_source: str | None
    plan: Any

    def rank(self) -> tuple[int, int, float]:
        """Lower is better, as decide() chooses: a plan at all, then fewer unassigned, then the cost."""
        return (0 if self.published else 1, self.unassigned, self.cost or 0.0)


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
        try:
            with path.open(encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    try:
                        item = json.loads(line)
                        result._take(item)
                    except (ValueError, KeyError, TypeError) as error:
                        raise ValueError(f"{path}:{number}: not a backtest decision line ({error!r})") from error
        except UnicodeDecodeError as error:
            raise ValueError(f"{path} is binary, not a backtest's decisions file (JSON lines); if it is an event "
                             f"log, backtest it first: engine backtest {path} --out decisions.jsonl") from error
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
                unassigned=len(plan["unassigned"]) if plan else 0,
                served=sum(len(route["stops"]) for route in plan["routes"]) if plan else 0, candidates=len(candidates),
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
            "total_served": sum(c.served for c in cycles),
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
        """One row per cycle both runs decided: cost, unassigned and served in each, and which one is better."""
        rows = []
        for key in self.common_cycles():
            a, b = self.a.cycles[key], self.b.cycles[key]
            verdict = "better" if b.rank() < a.rank() else "worse" if b.rank() > a.rank() else "same"
            rows.append({"fleet_id": key[0], "cycle_at": key[1], "cost_a": a.cost, "cost_b": b.cost,
                         "unassigned_a": a.unassigned, "unassigned_b": b.unassigned,
                         "served_a": a.served, "served_b": b.served, "published_a": a.published,
                         "published_b": b.published, "b_is": verdict,
                         "source_a": a.chosen_source, "source_b": b.chosen_source})
        return rows

    def verdicts(self) -> dict[str, int]:
        """Counts of cycles where B is better or worse: by orders served first, by cost only when those tie."""
        counts = dict.fromkeys(("better_in_b", "worse_in_b", "served_more_in_b", "served_fewer_in_b",
                                "cost_better_in_b", "cost_worse_in_b"), 0)
        for key in self.common_cycles():
            a, b = self.a.cycles[key].rank(), self.b.cycles[key].rank()
            counts["better_in_b"] += b < a
            counts["worse_in_b"] += b > a
            if b[:2] != a[:2]:  # a plan or not, or a different number left unassigned: cost does not count
                counts["served_more_in_b"] += b[:2] < a[:2]
                counts["served_fewer_in_b"] += b[:2] > a[:2]
            else:
                counts["cost_better_in_b"] += b[2] < a[2]
                counts["cost_worse_in_b"] += b[2] > a[2]
        return counts

    def report(self) -> dict[str, Any]:
        """Totals of A and B, their difference, and the counts of what changed."""
        ta, tb = self.a.totals(), self.b.totals()
        only_a = len(self.a.cycles.keys() - self.b.cycles.keys())
        only_b = len(self.b.cycles.keys() - self.a.cycles.keys())
        changed = self.changed_plans()
        return {
            "a": str(self.a.path), "b": str(self.b.path),
            "totals_a": ta, "totals_b": tb,
            "delta": {k: _delta(ta[k], tb.get(k)) for k in ta if k in tb},
            "cycles_compared": len(self.common_cycles()), "cycles_only_in_a": only_a, "cycles_only_in_b": only_b,
            "plans_changed": len(changed), **self.verdicts(), "fraud_scores_changed": self.changed_scores(),
            "identical": not changed and not only_a and not only_b and not self.changed_scores()
                         and self.a.fraud_scores.keys() == self.b.fraud_scores.keys(),
        }

    def figure(self) -> Any:
        """The matplotlib Figure against event time, one line per fleet: cost and unassigned, A solid, B dashed."""
        import matplotlib

        matplotlib.use("Agg")  # files only: no display on a server
        import matplotlib.pyplot as plt

        rows = self.per_cycle()
        fleets = sorted({r["fleet_id"] for r in rows})
        colours = plt.get_cmap("tab10")
        figure, (cost_axis, unassigned_axis) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
        for number, fleet in enumerate(fleets):
            mine = [r for r in rows if r["fleet_id"] == fleet]
            times = [datetime.fromisoformat(r["cycle_at"]) for r in mine]
            colour = colours(number % 10)
            for side, style in (("a", "-"), ("b", "--")):
                label = f"{fleet} {side.upper()}" if len(fleets) <= 10 else None
                cost_axis.plot(times, [r[f"cost_{side}"] if r[f"cost_{side}"] is not None else math.nan
                                       for r in mine], style, color=colour, label=label)
                unassigned_axis.plot(times, [r[f"unassigned_{side}"] for r in mine], style, color=colour)
        cost_axis.set_ylabel("plan cost (s of travel)")
        if fleets and len(fleets) <= 10:
            cost_axis.legend(loc="upper left", fontsize="small", ncol=2)
        unassigned_axis.set_ylabel("unassigned orders")
        unassigned_axis.set_xlabel(f"event time (cycle); solid A = {self.a.path.name}, dashed B = {self.b.path.name}")
        figure.autofmt_xdate()
        verdicts = self.verdicts()
        figure.suptitle(f"{len(self.changed_plans())} of {len(rows)} plans differ; B better in "
                        f"{verdicts['better_in_b']}, worse in {verdicts['worse_in_b']} (served first, then cost)")
        figure.tight_layout()
        return figure

    def plot(self, out: Path) -> Path:
        """Write figure() as a PNG."""
        import matplotlib.pyplot as plt

        figure = self.figure()
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, dpi=100)
        plt.close(figure)
        return out


def _delta(a: float, b: float | None) -> float | None:
    if b is None or isinstance(a, str) or math.isnan(a) or math.isnan(b):
        return None
    return round(b - a, 4)
