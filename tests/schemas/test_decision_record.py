"""Tests of DecisionRecord and its candidates and violations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas import CandidateSummary, DecisionRecord, Violation

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def record(**changes: object) -> DecisionRecord:
    fields: dict[str, object] = {
        "decision_id": "f1@2026-03-02T09:00:00+00:00", "fleet_id": "f1", "cycle_at": NOW,
        "inputs_digest": "ab" * 32, "prompt_hash": "cd" * 32, "llm_raw_text": '{"routes": []}',
        "llm_parse_ok": True,
        "candidates": [
            CandidateSummary(source="llm", feasible=False, cost=None, violations=[
                Violation(vehicle_id="v1", order_id="o1", constraint="time_window", excess=120.0,
                          message="arrives 120 s after the window closes"),
            ]),
            CandidateSummary(source="solver", feasible=True, cost=42.5),
        ],
        "chosen_source": "solver", "published": True, "stage_ms": {"problem": 1.5, "llm": 812.0},
    }
    return DecisionRecord(**{**fields, **changes})  # type: ignore[arg-type]


def test_round_trip_keeps_candidates_and_timings() -> None:
    """A full record survives to_bytes then from_bytes, violations and stage timings included."""
    original = record()
    again = DecisionRecord.from_bytes(original.to_bytes())
    assert again == original
    assert again.candidates[0].violations[0].constraint == "time_window"
    assert again.stage_ms == {"problem": 1.5, "llm": 812.0}


def test_minimal_record_defaults() -> None:
    """An unpublished record needs only ids, time, digest and the published flag."""
    minimal = DecisionRecord(decision_id="d", fleet_id="f1", cycle_at=NOW, inputs_digest="x", published=False)
    assert minimal.candidates == [] and minimal.chosen_source is None and minimal.stage_ms == {}


def test_unknown_constraint_rejected() -> None:
    """A violation names one of the known constraints."""
    with pytest.raises(ValidationError, match="constraint"):
        Violation(constraint="gravity", message="x")  # type: ignore[arg-type]


def test_llm_text_bounded() -> None:
    """The raw LLM text kept for audit is bounded."""
    with pytest.raises(ValidationError, match="llm_raw_text"):
        record(llm_raw_text="x" * 100_001)


def test_published_required() -> None:
    """Whether the plan was published must always be stated."""
    data = json.loads(record().to_bytes())
    del data["published"]
    with pytest.raises(ValidationError, match="published"):
        DecisionRecord.model_validate_json(json.dumps(data))


def test_string_timing_rejected() -> None:
    """Strict mode: a stage timing given as a string is rejected."""
    data = {**json.loads(record().to_bytes()), "stage_ms": {"llm": "812"}}
    with pytest.raises(ValidationError, match="stage_ms"):
        DecisionRecord.model_validate_json(json.dumps(data))


def test_naive_cycle_time_rejected() -> None:
    """The cycle time needs a time zone."""
    with pytest.raises(ValidationError, match="cycle_at"):
        record(cycle_at=datetime(2026, 3, 2, 9))


def test_new_records_are_version_two_with_llm_failure() -> None:
    """A record is written as schema version 2 and keeps why the LLM gave no plan."""
    failed = record(llm_failure="HTTP 400 context_length_exceeded: maximum context length is 512 tokens",
                    llm_raw_text=None, llm_parse_ok=None)
    data = json.loads(failed.to_bytes())
    assert data["schema_version"] == 2 and data["llm_failure"].startswith("HTTP 400 context_length_exceeded")
    assert DecisionRecord.from_bytes(failed.to_bytes()) == failed


def test_version_one_record_still_decodes() -> None:
    """A record written before llm_failure existed (version 1, no such field) decodes, with llm_failure None."""
    data = json.loads(record().to_bytes())
    del data["llm_failure"]
    old = DecisionRecord.model_validate_json(json.dumps({**data, "schema_version": 1}))
    assert old.schema_version == 1 and old.llm_failure is None and old.candidates == record().candidates


def test_unknown_version_and_long_failure_rejected() -> None:
    """A version this code does not know is refused, and the failure text is bounded."""
    data = {**json.loads(record().to_bytes()), "schema_version": 3}
    with pytest.raises(ValidationError, match="schema_version"):
        DecisionRecord.model_validate_json(json.dumps(data))
    with pytest.raises(ValidationError, match="llm_failure"):
        record(llm_failure="x" * 1001)
