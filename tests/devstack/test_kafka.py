"""Tests of the Kafka devstack configuration (no broker is started here)."""

from __future__ import annotations

import base64

from devstack.kafka import Kafka, _kafka_uuid, kafka_version


def properties() -> dict[str, str]:
    return dict(line.split("=", 1) for line in Kafka().server_properties().splitlines() if "=" in line)


def test_single_node_kraft() -> None:
    """One process is broker and controller, listening on loopback only."""
    props = properties()
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"].startswith("PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:")


def test_internal_topics_fit_one_broker() -> None:
    """Offsets and transaction topics ask for one replica, so transactions work on one broker."""
    props = properties()
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_version_from_pom_is_4x() -> None:
    """The pinned Kafka is a 4.x release (KRaft only)."""
    assert kafka_version().startswith("4.")


def test_cluster_id_format() -> None:
    """Cluster ids are 16 random bytes in unpadded URL-safe base64, as kafka-storage expects."""
    cluster_id = _kafka_uuid()
    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
