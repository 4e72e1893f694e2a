"""The backtest plot: per fleet over event time, plan cost, unassigned orders and LLM acceptance (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.replay.backtest_series import FleetSeries

MAX_LEGEND = 10  # more fleets than this: lines without a legend (it would hide the plot)


def draw_backtest(series: dict[str, FleetSeries], out: Path, title: str) -> Path:
    """Write a PNG with one subplot row per metric and one line per fleet; gaps where no plan was published."""
    import matplotlib  # imported here: the backtest itself never plots

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    figure, (cost_axis, unassigned_axis, llm_axis) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    colours = plt.get_cmap("tab10")
    for number, fleet in enumerate(series.values()):
        colour = colours(number % 10)
        label = fleet.fleet_id if len(series) <= MAX_LEGEND else None
        style = "-" if len(fleet) > 1 else "o"  # one cycle: a dot, a line needs two
        cost_axis.plot(fleet.times, fleet.cost, style, color=colour, label=label)
        unassigned_axis.plot(fleet.times, fleet.unassigned, style, color=colour)
        llm_axis.plot(fleet.times, fleet.llm_acceptance, style, color=colour)
    cost_axis.set_ylabel("plan cost (s of travel)")
    unassigned_axis.set_ylabel("unassigned orders")
    llm_axis.set_ylabel("LLM acceptance\n(share of cycles so far)")
    llm_axis.set_ylim(-0.02, 1.02)
    llm_axis.set_xlabel("event time (cycle, UTC)")
    if series and len(series) <= MAX_LEGEND:
        cost_axis.legend(loc="upper left", fontsize="small", ncol=2)
    if not series:
        cost_axis.text(0.5, 0.5, "no route decisions in this backtest", ha="center", va="center",
                       transform=cost_axis.transAxes)
    cycles = sum(len(fleet) for fleet in series.values())
    chosen = int(sum(np.count_nonzero(fleet.llm_chosen) for fleet in series.values()))
    figure.suptitle(f"{title}: {len(series)} fleet(s), {cycles} route decisions, LLM plan chosen in {chosen}")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(out, dpi=100, format="png")
    plt.close(figure)
    return out
