"""Turn raw Kafka bytes into a wire model, or into readable errors for the dead-letter topic."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import ValidationError

from schemas.dead_letter import DeadLetter, ErrorDetail
from schemas.wire_model import WireModel

M = TypeVar("M", bound=WireModel)


class DecodeError(ValueError):
    """The bytes are not a valid message of the expected schema."""

    def __init__(self, schema: str, errors: list[ErrorDetail]) -> None:
        self.schema = schema
        self.errors = errors
        summary = "; ".join(f"{e.location}: {e.message}" for e in errors)
        super().__init__(f"invalid {schema}: {summary}")


def decode(model: type[M], raw: bytes | None) -> M:
    """Validate one message; raise DecodeError listing every problem."""
    if raw is None or raw == b"":
        empty = ErrorDetail(location="(message)", message="empty message", error_type="empty")
        raise DecodeError(model.__name__, [empty])
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise DecodeError(model.__name__, readable_errors(error)) from error


def readable_errors(error: ValidationError) -> list[ErrorDetail]:
    """pydantic's errors as dotted paths and plain messages, without echoing the input."""
    details = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or "(message)"
        details.append(ErrorDetail(location=location, message=item["msg"], error_type=item["type"]))
    return details


def dead_letter(
    error: DecodeError,
    *,
    source_topic: str,
    value: bytes | None,
    key: bytes | None,
    partition: int | None,
    offset: int | None,
) -> DeadLetter:
    """The dead-letter record of a rejected message, carrying its exact original bytes."""
    return DeadLetter(
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key_base64=None if key is None else base64.b64encode(key).decode(),
        value_base64=base64.b64encode(value or b"").decode(),
        expected_schema=error.schema,
        errors=error.errors,
        received_at=datetime.now(UTC),
    )
