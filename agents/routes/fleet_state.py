"""The fleet-state agent: orders, vehicles and traffic into a changelog-backed table and Redis."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import faust
from faust.types import TableT

from agents.kafka.dead_letters import DeadLetters
from agents.kafka.gap_guard import GapGuard, InputMessage
from agents.kafka.topics import RAW_BYTES, kafka_client_options
from agents.routes.summary_store import SummaryStore
from engine.routes.state import FleetState, SourcePosition, fleet_input_schemas, read_fleet_event
from engine.settings import Settings
from schemas import DecodeError

log = logging.getLogger(__name__)

FLEET_STATE_TABLE = "fleet-state"
INPUT_PROGRESS_TABLE = "fleet-input-progress"


@dataclass
class FleetStateWiring:
    """What the fleet-state agent registered on the app, for the timer and for tests."""

    table: TableT[bytes, bytes]
    dead_letters: DeadLetters
    store: SummaryStore
    guard: GapGuard


def install_fleet_state(app: faust.App, settings: Settings, store: SummaryStore) -> FleetStateWiring:
    """Register the agent, its table, the dead-letter topic and the summary refresh timer."""
    topics = settings.topics
    schema_for = fleet_input_schemas(topics)
    inputs = app.topic(*schema_for, partitions=topics.partitions, **RAW_BYTES)
    dead_letters = DeadLetters(app.topic(topics.dead_letters, partitions=topics.partitions, **RAW_BYTES))
    # Raw bytes keys and values: what is written is exactly what recovery reads back from the changelog.
    table = app.Table(
        FLEET_STATE_TABLE,
        partitions=topics.partitions,
        # Faust picks the changelog codec from key_type/value_type: bytes means raw, anything else JSON.
        key_type=bytes,
        value_type=bytes,
        help="FleetState JSON per fleet id (utf-8 key); rebuilt from its changelog on restart.",
    )

    async def take(message: InputMessage) -> None:
        try:
            parsed, fleet_id = read_fleet_event(schema_for[message.topic], message.value, message.key)
        except DecodeError as error:
            await dead_letters.reject(message, error)
            return
        table_key = fleet_id.encode()
        stored = table.get(table_key)
        state = FleetState.from_bytes(stored) if stored else FleetState(fleet_id=fleet_id)
        source = SourcePosition(topic=message.topic, partition=message.partition, offset=message.offset)
        new_state = state.apply(parsed, source)
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
    guard = GapGuard(set(schema_for), progress, kafka_client_options(settings), take)

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
