"""The fleet-state agent: orders, vehicles and traffic into a changelog-backed table and Redis."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from agents.gap_guard import GapGuard, InputMessage
from agents.summary_store import SummaryStore
from agents.topics import RAW_BYTES, consumer_options
from engine.settings import Settings
from engine.state import FleetState, SourcePosition, event_fleet
from schemas import (
    DecodeError,
    OrderEvent,
    TrafficEvent,
    VehicleEvent,
    WireModel,
    dead_letter,
    decode,
)

log = logging.getLogger(__name__)

FLEET_STATE_TABLE = "fleet-state"
INPUT_PROGRESS_TABLE = "fleet-input-progress"


@dataclass
class FleetStateWiring:
    """What the fleet-state agent registered on the app, for the timer and for tests."""

    table: Any
    dead_letters: faust.TopicT
    store: SummaryStore
    guard: GapGuard


def install_fleet_state(app: faust.App, settings: Settings, store: SummaryStore) -> FleetStateWiring:
    """Register the agent, its table, the dead-letter topic and the summary refresh timer."""
    topics = settings.topics
    schema_for: dict[str, type[WireModel]] = {
        topics.orders: OrderEvent,
        topics.vehicles: VehicleEvent,
        topics.traffic: TrafficEvent,
    }
    inputs = app.topic(*schema_for, partitions=topics.partitions, **RAW_BYTES)
    dead_letters = app.topic(topics.dead_letters, partitions=topics.partitions, **RAW_BYTES)
    # Raw bytes keys and values: what is written is exactly what recovery reads back from the changelog.
    table = app.Table(
        FLEET_STATE_TABLE,
        partitions=topics.partitions,
        # Faust picks the changelog codec from key_type/value_type: bytes means raw, anything else JSON.
        key_type=bytes,
        value_type=bytes,
        help="FleetState JSON per fleet id (utf-8 key); rebuilt from its changelog on restart.",
    )

    async def reject(message: InputMessage, error: DecodeError) -> None:
        record = dead_letter(
            error,
            source_topic=message.topic,
            value=message.value,
            key=message.key,
            partition=message.partition,
            offset=message.offset,
        )
        headers = {"error": str(error)[:1000].encode(), "source-topic": message.topic.encode()}
        await dead_letters.send(key=message.key, value=record.to_bytes(), headers=headers)
        log.warning("dead-lettered %s[%s]@%s: %s", message.topic, message.partition, message.offset, error)

    async def take(message: InputMessage) -> None:
        model = schema_for[message.topic]
        try:
            parsed = decode(model, message.value)
            fleet_id = event_fleet(parsed, message.key, model.__name__)
        except DecodeError as error:
            await reject(message, error)
            return
        table_key = fleet_id.encode()
        stored = table.get(table_key)
        state = FleetState.from_bytes(stored) if stored else FleetState(fleet_id=fleet_id)
        source = SourcePosition(topic=message.topic, partition=message.partition, offset=message.offset)
        new_state = state.apply(parsed, source)  # type: ignore[arg-type]
        if new_state is state:
            return  # redelivered after a restart; nothing changed
        table[table_key] = new_state.to_bytes()
        await _publish_summary(store, new_state)

    progress = app.Table(
        INPUT_PROGRESS_TABLE,
        partitions=topics.partitions,
        key_type=bytes,
        value_type=bytes,
        help="Last input offset taken per topic/partition, for GapGuard.",
    )
    guard = GapGuard(set(schema_for), progress, consumer_options(settings), take)

    @app.agent(inputs, name="fleet-state")
    async def fleet_state_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            await guard.take(event.message)
            yield None

    @app.timer(interval=settings.cycle_seconds, name="fleet-summary-refresh")  # type: ignore[untyped-decorator]
    async def refresh_summaries() -> None:
        # Traffic expires with time even when no event arrives: refresh what this worker owns.
        for raw_state in list(table.values()):
            await _publish_summary(store, FleetState.from_bytes(raw_state))
        await guard.audit_tail(app.consumer)

    return FleetStateWiring(table=table, dead_letters=dead_letters, store=store, guard=guard)


async def _publish_summary(store: SummaryStore, state: FleetState) -> None:
    """Write the summary; Redis being down must not stop the stream (the table is the truth)."""
    try:
        await store.write(state.summary(datetime.now(UTC)))
    except Exception as error:  # redis.RedisError, OSError: log and keep consuming
        log.error("could not write summary of fleet %s to Redis: %s", state.fleet_id, error)
