"""Tests of the Kafka devstack configuration (no broker is started here)."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import pytest

from devstack.kafka import POM, Kafka, _kafka_uuid, kafka_version


@pytest.fixture(autouse=True)
def default_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Port overrides from the outer environment do not leak into these tests."""
    for name in ("DEVSTACK_KAFKA_PORT", "DEVSTACK_KAFKA_CONTROLLER_PORT", "DEVSTACK_KAFKA_HEAP"):
        monkeypatch.delenv(name, raising=False)


def properties(kafka: Kafka | None = None) -> dict[str, str]:
    lines = (kafka or Kafka()).server_properties().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    assert all(len(pair) == 2 for pair in pairs)
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), "a key is set twice"
    return dict(pairs)  # type: ignore[arg-type]


def test_single_node_kraft() -> None:
    """One process is broker and controller, voting for itself on the loopback controller port."""
    props = properties()
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["controller.listener.names"] == "CONTROLLER"


def test_listeners_on_loopback_9092() -> None:
    """Clients reach the broker on 127.0.0.1:9092 only; nothing listens on other interfaces."""
    props = properties()
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert "0.0.0.0" not in Kafka().server_properties()


def test_ports_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """DEVSTACK_KAFKA_PORT and DEVSTACK_KAFKA_CONTROLLER_PORT move both listeners and the voter."""
    monkeypatch.setenv("DEVSTACK_KAFKA_PORT", "19092")
    monkeypatch.setenv("DEVSTACK_KAFKA_CONTROLLER_PORT", "19093")
    props = properties()
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"


def test_internal_topics_fit_one_broker() -> None:
    """Offsets and transaction topics ask for one replica, so transactions work on one broker."""
    props = properties()
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["share.coordinator.state.topic.replication.factor"] == "1"


def test_consumer_groups_form_at_once() -> None:
    """Groups do not wait for more members before the first rebalance."""
    assert properties()["group.initial.rebalance.delay.ms"] == "0"


def test_data_lives_in_the_state_dir() -> None:
    """The log directory is the service's own data folder."""
    kafka = Kafka()
    assert properties(kafka)["log.dirs"] == str(kafka.data_dir)


def test_version_from_pom_is_4x() -> None:
    """kafka_version() is the <kafka.version> of the pom, a 4.x release (KRaft only)."""
    root = ET.parse(POM).getroot()
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    pinned = root.find("m:properties/m:kafka.version", namespace)
    assert pinned is not None
    assert kafka_version() == pinned.text
    assert re.fullmatch(r"4\.\d+\.\d+", kafka_version())
    assert Kafka().version == kafka_version()


def test_cluster_id_format() -> None:
    """Cluster ids are 16 random bytes in unpadded URL-safe base64, as kafka-storage expects."""
    cluster_id = _kafka_uuid()
    assert len(cluster_id) == 22
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_cluster_ids_are_random() -> None:
    """Each formatting gets a fresh cluster id."""
    assert len({_kafka_uuid() for _ in range(50)}) == 50


def test_cluster_ids_never_start_with_a_dash() -> None:
    """One random id in 64 starts with "-", which `kafka-storage format -t` takes for an option; none is made."""
    assert not [cluster_id for cluster_id in (_kafka_uuid() for _ in range(2_000)) if cluster_id.startswith("-")]
