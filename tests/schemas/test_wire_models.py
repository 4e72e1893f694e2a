"""Properties every wire model shares: round trip, version, closed shape, JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import pytest
from pydantic import ValidationError

from schemas import (
    WIRE_MODELS,
    DeadLetter,
    DecisionRecord,
    ErrorDetail,
    FraudDrift,
    FraudLabel,
    FraudReview,
    FraudScore,
    RoutePlan,
    ScoreReason,
    Transaction,
    WireModel,
)
from tests.factories import order, traffic, vehicle

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def examples() -> list[WireModel]:
    return [
        order("f1", "o1"),
        vehicle("f1", "v1"),
        traffic("f1", "t1"),
        Transaction(transaction_id="tx1", occurred_at=NOW, customer_id="c1", terminal_id="t1", amount=12.5),
        RoutePlan(plan_id=RoutePlan.make_id("f1", NOW), fleet_id="f1", cycle_at=NOW, routes=[], cost=0.0,
                  source="solver"),
        DecisionRecord(decision_id="d1", fleet_id="f1", cycle_at=NOW, inputs_digest="ab", published=False),
        FraudScore(transaction_id="tx1", customer_id="c1", terminal_id="t1", occurred_at=NOW, score=0.9,
                   alert=True, reasons=[ScoreReason(code="amount", text="Amount is 9x usual", weight=0.4)],
                   model_version="v1", scored_at=NOW, model_score=0.9, rules_score=0.2, features={"amount": 12.5}),
        FraudLabel(transaction_id="tx1", customer_id="c1", terminal_id="t1", occurred_at=NOW, fraud=True,
                   labelled_at=NOW),
        FraudReview(transaction_id="tx1", customer_id="c1", decision="fraud", rationale="new terminal, 9x amount",
                    score=0.5, model="granite", prompt_hash="ab", reviewed_at=NOW, cycle_at=NOW, latency_ms=812.0),
        FraudDrift(kind="score_distribution", value=0.31, bound=0.25, sample_size=2000, model_version="v1",
                   detected_at=NOW),
        DeadLetter(source_topic="orders", value_base64="e30=", expected_schema="OrderEvent",
                   errors=[ErrorDetail(location="x", message="bad", error_type="t")], received_at=NOW),
    ]


def test_every_wire_model_has_an_example() -> None:
    """The examples below cover every model in WIRE_MODELS, so the other tests cover them all."""
    assert {type(e).__name__ for e in examples()} == set(WIRE_MODELS)


@pytest.mark.parametrize("message", examples(), ids=lambda m: type(m).__name__)
def test_bytes_round_trip(message: WireModel) -> None:
    """to_bytes then from_bytes gives back an equal message."""
    assert type(message).from_bytes(message.to_bytes()) == message


@pytest.mark.parametrize("message", examples(), ids=lambda m: type(m).__name__)
def test_version_one_on_the_wire(message: WireModel) -> None:
    """Every message carries its schema version in its JSON: 1, or 2 for DecisionRecord (llm_failure added)."""
    current = 2 if isinstance(message, DecisionRecord) else 1
    assert message.schema_version == current
    assert json.loads(message.to_bytes())["schema_version"] == current


@pytest.mark.parametrize("version", [2, 0, "1", None])
@pytest.mark.parametrize("message", examples(), ids=lambda m: type(m).__name__)
def test_wrong_schema_version_rejected(message: WireModel, version: object) -> None:
    """A message claiming another schema version (or "1" as a string) is rejected instead of misread."""
    if isinstance(message, DecisionRecord) and version == 2:
        version = 3  # DecisionRecord reads versions 1 and 2
    data = {**json.loads(message.to_bytes()), "schema_version": version}
    with pytest.raises(ValidationError, match="schema_version"):
        type(message).model_validate_json(json.dumps(data))


@pytest.mark.parametrize("message", examples(), ids=lambda m: type(m).__name__)
def test_unknown_field_rejected(message: WireModel) -> None:
    """An unexpected field is an error, not silently dropped."""
    data = {**json.loads(message.to_bytes()), "surprise": 1}
    with pytest.raises(ValidationError, match="surprise"):
        type(message).model_validate_json(json.dumps(data))


@pytest.mark.parametrize("model", list(WIRE_MODELS.values()), ids=list(WIRE_MODELS))
def test_json_schema_generated(model: type[WireModel]) -> None:
    """Each model exports a JSON Schema that names schema_version and forbids extra properties."""
    schema = model.model_json_schema()
    assert "schema_version" in schema["properties"]
    version = schema["properties"]["schema_version"]
    assert version.get("const") == 1 or (model is DecisionRecord and version["enum"] == [1, 2])
    assert schema["additionalProperties"] is False
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("message", examples(), ids=lambda m: type(m).__name__)
def test_messages_match_their_json_schema(message: WireModel) -> None:
    """What to_bytes writes is valid under the exported JSON Schema, so non-Python consumers agree."""
    schema = type(message).model_json_schema()
    jsonschema.validate(json.loads(message.to_bytes()), schema, cls=jsonschema.Draft202012Validator)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(message.to_bytes()), "surprise": 1}, schema)


def test_messages_are_immutable() -> None:
    """A parsed message cannot be changed in place (state changes go through new messages)."""
    message = order("f1", "o1")
    with pytest.raises(ValidationError):
        message.demand = 5  # type: ignore[misc]
