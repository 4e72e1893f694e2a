"""The base of every wire model: strict, closed, immutable, versioned."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_VERSION: Literal[1] = 1

# Ids travel as Kafka keys and Redis key parts: printable, short, no spaces or separators that need quoting.
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")]


class WireValue(BaseModel):
    """A value inside a message; unknown fields and loose types are rejected, not guessed."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class WireModel(WireValue):
    """A whole message on a topic, carrying the version of its schema."""

    schema_version: Literal[1] = Field(
        default=SCHEMA_VERSION, description="Version of this message's schema; bumped on breaking change."
    )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        """Parse and validate one JSON message (raises pydantic.ValidationError)."""
        return cls.model_validate_json(raw)

    def to_bytes(self) -> bytes:
        """The JSON bytes that go on the wire."""
        # The serializer's bytes as they are: model_dump_json decodes them to str, and .encode() copied them back.
        return self.__pydantic_serializer__.to_json(self)
