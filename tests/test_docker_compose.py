"""docker-compose.yml stays consistent with the code (no Docker engine here, so it is parsed, not run)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from devstack.kafka import Kafka, kafka_version
from engine.settings import Settings, known_env_names

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_services_present() -> None:
    """Kafka, Redis, the engine worker and the optional llama.cpp server are all declared."""
    services = compose()["services"]
    assert {"kafka", "redis", "worker", "llm"} <= set(services)
    assert services["llm"]["profiles"] == ["llm-server"]
    assert services["worker"]["command"] == ["engine", "worker"]


def test_worker_uses_only_real_settings() -> None:
    """Every ENGINE_* variable the worker gets is a setting the code reads (a typo would be ignored)."""
    environment = compose()["services"]["worker"]["environment"]
    unknown = {name for name in environment if name not in known_env_names()}
    assert not unknown


def test_worker_topics_match_defaults() -> None:
    """Topic names in compose are the code's defaults, so clients without overrides see the same topics."""
    environment = compose()["services"]["worker"]["environment"]
    defaults = Settings().topics
    for name, value in environment.items():
        if name.startswith("ENGINE_TOPICS__"):
            assert getattr(defaults, name.removeprefix("ENGINE_TOPICS__").lower()) == value


def test_kafka_matches_devstack() -> None:
    """The compose broker runs the pom's Kafka version with the devstack's single-node settings."""
    kafka = compose()["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{kafka_version()}"
    devstack = dict(line.split("=", 1) for line in Kafka().server_properties().splitlines() if "=" in line)
    environment = kafka["environment"]
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "group.initial.rebalance.delay.ms", "num.partitions"):
        env_name = "KAFKA_" + re.sub(r"[.]", "_", key).upper()
        assert environment[env_name] == devstack[key], key
    assert environment["KAFKA_NUM_PARTITIONS"] == str(Settings().topics.partitions)


def test_worker_build_flags_avoid_native() -> None:
    """The image builds llama.cpp without GGML_NATIVE (the native build crashes on quantized models on AMX CPUs)."""
    args = compose()["services"]["worker"]["build"]["args"]["LLAMA_CMAKE_ARGS"]
    assert "-DGGML_NATIVE=OFF" in args
    assert 'pip install --no-cache-dir' in (ROOT / "Dockerfile").read_text()
