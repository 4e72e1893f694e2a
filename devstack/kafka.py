"""Apache Kafka 4.x, single node in KRaft mode, from Apache's own jars resolved through Maven Central."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from devstack.service import CACHE_DIR, STATE_DIR, Service, ServiceError, port_open

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"

LOG4J2_CONFIG = """\
status = warn
appender.file.type = Console
appender.file.name = STDOUT
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


def kafka_version() -> str:
    """The Kafka version pinned in devstack/kafka/pom.xml (the one source of truth)."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if match is None:
        raise ServiceError(f"kafka: no <kafka.version> in {POM}")
    return match.group(1)


class Kafka(Service):
    """A broker+controller on 127.0.0.1:9092 (controller on 9093) with laptop settings."""

    name = "kafka"

    def __init__(self) -> None:
        self.port = int(os.environ.get("DEVSTACK_KAFKA_PORT", "9092"))
        self.controller_port = int(os.environ.get("DEVSTACK_KAFKA_CONTROLLER_PORT", "9093"))
        self.heap = os.environ.get("DEVSTACK_KAFKA_HEAP", "768m")
        self.version = kafka_version()
        self.home = STATE_DIR / "kafka"
        self.data_dir = self.home / "data"
        self.config_file = self.home / "server.properties"
        self.libs = CACHE_DIR / f"kafka-{self.version}" / "libs"

    def server_properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.data_dir}",
                "num.partitions=4",  # matches ENGINE_TOPICS__PARTITIONS so auto-created topics fit
                "auto.create.topics.enable=true",
                # One broker: internal topics must not ask for replicas that cannot exist.
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                # Consumer groups form at once instead of waiting 3 s for more members.
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=168",
                "log.segment.bytes=67108864",
                "num.network.threads=2",
                "num.io.threads=4",
                "",
            ]
        )

    def ensure_jars(self) -> None:
        """Resolve the broker jars with Maven once; later starts reuse the cached folder."""
        if (self.libs / ".complete").exists():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceError("kafka: Maven (mvn) is not installed; it resolves Kafka's jars")
        staging = self.libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
             f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"kafka: Maven could not resolve Kafka {self.version}:\n{result.stdout}{result.stderr}")
        (staging / ".complete").write_text(self.version)
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)

    def java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java:
            raise ServiceError("kafka: Java 17+ is not installed (no java on PATH and no JAVA_HOME)")
        return java

    def prepare(self) -> None:
        self.ensure_jars()
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.server_properties())
        (self.home / "log4j2.properties").write_text(LOG4J2_CONFIG)
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = _kafka_uuid()
        result = subprocess.run(
            [self.java(), "-cp", f"{self.libs}/*", *self._log_opts(), "kafka.tools.StorageTool",
             "format", "-t", cluster_id, "-c", str(self.config_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"kafka: formatting storage failed:\n{result.stdout}{result.stderr}")

    def _log_opts(self) -> list[str]:
        return [f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}"]

    def command(self) -> list[str]:
        return [
            self.java(),
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            *self._log_opts(),
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.config_file),
        ]

    def healthy(self) -> bool:
        if not port_open(self.host, self.port):
            return False  # skip the client (and its connection-error log lines) until the port opens
        return asyncio.run(_metadata_ok(f"{self.host}:{self.port}"))


async def _metadata_ok(bootstrap: str) -> bool:
    """A real metadata request: the broker is up and the controller has elected itself."""
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, api_version="auto")
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=5)
        metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout=5)
        return bool(metadata.brokers())
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await client.close()


def _kafka_uuid() -> str:
    """A cluster id in Kafka's format: a random UUID as unpadded URL-safe base64."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
