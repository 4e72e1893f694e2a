"""DecisionRecord: the audit trail of one cycle's decision, published or not."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.route_plan import PlanSource
from schemas.wire_model import Identifier, WireModel, WireValue


class Violation(WireValue):
    """One broken constraint: which vehicle and stop, which constraint, by how much."""

    vehicle_id: str | None = None
    order_id: str | None = None
    constraint: Literal[
        "capacity", "time_window", "shift_end", "unknown_id", "duplicate_order", "committed_stop", "parse",
    ]
    excess: float | None = Field(default=None, description="By how much (units, or seconds for times).")
    message: str = Field(max_length=1000)


class CandidateSummary(WireValue):
    """A plan considered this cycle, with its check result and cost."""

    source: PlanSource
    feasible: bool
    cost: float | None = None
    violations: list[Violation] = Field(default_factory=list)


class DecisionRecord(WireModel):
    """Why a plan was (or was not) published: inputs, LLM text, checks, costs, timings."""

    # Version 2 added llm_failure; version 1 records (without it) still decode, as llm_failure None.
    schema_version: Literal[1, 2] = Field(  # type: ignore[assignment]  # widens the base's Literal[1] on purpose
        default=2, description="Version of this message's schema; bumped on breaking change (2: llm_failure)."
    )
    decision_id: str
    fleet_id: Identifier
    cycle_at: AwareDatetime
    inputs_digest: str = Field(description="sha256 of the canonical problem the cycle solved.")
    prompt_hash: str | None = None
    llm_raw_text: str | None = Field(default=None, max_length=100_000)
    llm_parse_ok: bool | None = None
    llm_asked: bool | None = Field(default=None, description="Whether this fleet had its turn with the LLM this "
                                   "cycle (None: no LLM configured); the worker's fleets take turns.")
    llm_failure: str | None = Field(default=None, max_length=1000, description="Why the LLM gave no plan this "
                                    "cycle (HTTP error, timeout, late, context too small, parse error); None when "
                                    "it gave one or was not asked. Since schema version 2.")
    candidates: list[CandidateSummary] = Field(default_factory=list)
    chosen_source: str | None = Field(default=None, description="The PlanSource published, or None if nothing was.")
    published: bool
    stage_ms: dict[str, float] = Field(default_factory=dict, description="Per-stage wall time in milliseconds.")
    input_offsets: dict[str, int] = Field(
        default_factory=dict,
        description="Highest input offset applied per 'topic/partition' when the cycle read its state "
                    "(a backtest rebuilds exactly that state from a recorded log).",
    )
