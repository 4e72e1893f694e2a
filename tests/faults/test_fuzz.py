"""Property-based bad input: random bytes and mutated events for every input schema, in-process and on Kafka."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.chaos import ChaosRun, produce, read_topic, summary, wait_until
from engine.fraud.intake import read_transaction
from engine.routes.state import read_fleet_event
from schemas import DeadLetter, DecodeError, FraudLabel, OrderEvent, TrafficEvent, VehicleEvent, dead_letter
from schemas.decoding import decode
from tests.factories import order, traffic, vehicle
from tests.fraud_factories import label, transaction

Record = Callable[[dict[str, Any]], dict[str, Any]]
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
JUNK: list[Any] = [None, "", "x" * 300, -1, 0, 2**70, 1e308, -0.0, True, [], {}, [1, "a"], {"a": {"b": None}},
                   "2026-13-45T99:00:00Z", "9999-12-31T23:59:59Z", "NaN", "\u0000\ud7ff", "o-1; DROP TABLE"]


def valid_events() -> dict[str, tuple[bytes, bytes]]:
    """One valid message (key, value) per input schema."""
    tx = transaction("tx-f", NOW - timedelta(minutes=1), customer="cf")
    return {"OrderEvent": (b"fleet-f", order("fleet-f", "o-1").to_bytes()),
            "VehicleEvent": (b"fleet-f", vehicle("fleet-f", "v-1").to_bytes()),
            "TrafficEvent": (b"fleet-f", traffic("fleet-f", "jam-1").to_bytes()),
            "Transaction": (b"cf", tx.to_bytes()),
            "FraudLabel": (b"cf", label(tx, True, NOW).to_bytes())}


def mutate(value: bytes, rng: random.Random) -> bytes:
    """A valid event broken in one to three ways: a field dropped, retyped, nested junk, truncated or re-encoded."""
    data = json.loads(value)

    def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        found = []
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for k, v in items:
            found.append((*prefix, k))
            found.extend(paths(v, (*prefix, k)))
        return found

    for _ in range(rng.randint(1, 3)):
        where = rng.choice(paths(data) or [("extra",)])
        parent = data
        for part in where[:-1]:
            parent = parent[part]
        kind = rng.randrange(5)
        if kind == 0 and isinstance(parent, dict):
            parent.pop(where[-1], None)
        elif kind == 1:
            parent[where[-1]] = copy.deepcopy(rng.choice(JUNK))
        elif kind == 2 and isinstance(parent, dict):
            parent[f"unknown_{rng.randrange(9)}"] = copy.deepcopy(rng.choice(JUNK))
        else:
            parent[where[-1]] = copy.deepcopy(rng.choice(JUNK))
    raw = json.dumps(data, allow_nan=True).encode()
    tail = rng.randrange(4)
    if tail == 0:
        return raw[: rng.randrange(1, len(raw))]
    if tail == 1:
        return raw.decode().encode("utf-16")
    return raw


def read(schema: str, key: bytes, value: bytes) -> object:
    """The live agents' own reading path for that schema."""
    if schema == "Transaction":
        return read_transaction(value, key, NOW, 300.0)
    if schema == "FraudLabel":
        return decode(FraudLabel, value)
    model = {"OrderEvent": OrderEvent, "VehicleEvent": VehicleEvent, "TrafficEvent": TrafficEvent}[schema]
    return read_fleet_event(model, value, key, NOW, 300.0)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=st.sampled_from(sorted(valid_events())), raw=st.binary(max_size=3000))
def test_random_bytes_are_rejected_with_a_reason_never_a_crash(schema: str, raw: bytes) -> None:
    """Any bytes on any input topic either read as a valid event or raise DecodeError with a dead letter that
    carries the original bytes; no other exception escapes."""
    key = valid_events()[schema][0]
    try:
        read(schema, key, raw)
    except DecodeError as error:
        letter = DeadLetter.from_bytes(dead_letter(error, source_topic="t", value=raw, key=key, partition=0,
                                                   offset=1).to_bytes())
        assert letter.original_value == raw and letter.errors


@settings(max_examples=600, deadline=None)
@given(schema=st.sampled_from(sorted(valid_events())), rng=st.randoms(use_true_random=False))
def test_mutated_events_are_rejected_with_their_field_named(schema: str, rng: random.Random) -> None:
    """A valid event broken by dropping, retyping or nesting junk in its fields is accepted only if it is still
    valid; a rejection names at least one field or the message and keeps the original bytes."""
    key, value = valid_events()[schema]
    raw = mutate(value, rng)
    try:
        read(schema, key, raw)
    except DecodeError as error:
        assert error.errors and all(e.location for e in error.errors)
        letter = dead_letter(error, source_topic="t", value=raw, key=key, partition=0, offset=1)
        assert DeadLetter.from_bytes(letter.to_bytes()).original_value == raw


@pytest.mark.integration
def test_fuzzed_messages_on_every_input_topic_are_dead_lettered(chaos_run: ChaosRun, fraud_model: Path,
                                                                 record_figures: Record) -> None:
    """300 random-byte and mutated messages on orders, vehicles, traffic, transactions and fraud-labels, between
    good events: every bad one is dead-lettered with its bytes, every good one applied, the worker never dies."""
    chaos_run.env.update({"ENGINE_FRAUD__ENABLED": "true", "ENGINE_FRAUD__MODEL_DIR": str(fraud_model),
                          "ENGINE_FRAUD__REVIEW_ENABLED": "false"})
    topics = chaos_run.settings.topics
    topic_of = {"OrderEvent": topics.orders, "VehicleEvent": topics.vehicles, "TrafficEvent": topics.traffic,
                "Transaction": topics.transactions, "FraudLabel": topics.fraud_labels}
    rng, now = random.Random(7), datetime.now(UTC)
    bad: list[tuple[str, bytes, bytes]] = []
    for n in range(300):
        schema = rng.choice(sorted(topic_of))
        key, value = valid_events()[schema]
        raw = mutate(value, rng) if n % 3 else rng.randbytes(rng.randrange(1, 400))
        try:
            read(schema, key, raw)
            continue  # still valid after mutation: not a bad case
        except DecodeError:
            bad.append((topic_of[schema], key, raw))
    good = [(topics.orders, b"fleet-z", order("fleet-z", f"o-{i}", minute=i).to_bytes()) for i in range(20)]
    good += [(topics.transactions, b"cz", transaction(f"tz{i}", now - timedelta(minutes=i), customer="cz").to_bytes())
             for i in range(20)]
    every = max(1, len(bad) // len(good))  # one good event after every few bad ones, each good event once
    messages = [m for i, b in enumerate(bad) for m in ([b, good[i // every]] if i % every == 0 and
                                                          i // every < len(good) else [b])]
    messages += good[len(bad) // every + 1:]
    worker = chaos_run.worker("worker")
    worker.start()
    produce(chaos_run.settings, messages)
    letters = wait_until(lambda: len(found := read_topic(chaos_run.settings, topics.dead_letters)) >= len(bad)
                         and found, 120, f"{len(bad)} dead letters")
    dead = [DeadLetter.from_bytes(value) for _, value, _ in letters]
    wait_until(lambda: summary(chaos_run.settings, "fleet-z").get("open_orders") == "20", 60, "the good orders")
    scores = wait_until(lambda: len(s := read_topic(chaos_run.settings, topics.fraud_scores)) >= 20 and s, 60,
                        "the good payments scored")
    alive = worker.process is not None and worker.process.poll() is None
    worker.stop()
    sent_bad = Counter(raw for _, _, raw in bad)
    figures = record_figures({"scenario": "fuzz_on_kafka", "bad_messages_sent": len(bad),
                              "dead_lettered": len(dead), "good_sent": len(good),
                              "good_applied": 20 + min(20, len(scores)), "worker_alive": alive,
                              "by_topic": dict(Counter(topic.rsplit("-", 1)[0] for topic, _, _ in bad))})
    assert Counter(letter.original_value for letter in dead) == sent_bad, "each bad message dead-lettered once"
    assert all(letter.errors for letter in dead)
    assert figures["good_applied"] == figures["good_sent"] and alive
