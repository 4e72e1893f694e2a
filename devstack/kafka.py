"""Apache Kafka 4.x, one KRaft node from Apache's jars (resolved through Maven Central): plain or SASL_SSL."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from devstack.certificates import (
    Certificates,
    Credentials,
    credentials_file,
    ensure_certificates,
    ensure_credentials,
    write_private,
)
from devstack.service import CACHE_DIR, SECURE_STATE_DIR, STATE_DIR, Service, ServiceError, port_open

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
        self.state_dir = STATE_DIR
        self.port = int(os.environ.get("DEVSTACK_KAFKA_PORT", "9092"))
        self.controller_port = int(os.environ.get("DEVSTACK_KAFKA_CONTROLLER_PORT", "9093"))
        self.heap = os.environ.get("DEVSTACK_KAFKA_HEAP", "768m")
        self.version = kafka_version()
        self.home = self.state_dir / "kafka"
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
        self.format_storage()

    def format_args(self) -> list[str]:
        """Extra `kafka-storage format` arguments (the secured broker adds its SCRAM users)."""
        return []

    def format_storage(self) -> None:
        cluster_id = _kafka_uuid()
        result = subprocess.run(
            [self.java(), "-cp", f"{self.libs}/*", *self._log_opts(), "kafka.tools.StorageTool",
             "format", "-t", cluster_id, "-c", str(self.config_file), *self.format_args()],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"{self.name}: formatting storage failed:\n{result.stdout}{result.stderr}")

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


class SecureKafka(Kafka):
    """A second broker beside the plain one: SASL_SSL with SCRAM-SHA-512 on 127.0.0.1:9094 (controller 9095)."""

    mechanism = "SCRAM-SHA-512"

    def __init__(self) -> None:
        self.state_dir = SECURE_STATE_DIR
        self.port = int(os.environ.get("DEVSTACK_SECURE_KAFKA_PORT", "9094"))
        self.controller_port = int(os.environ.get("DEVSTACK_SECURE_KAFKA_CONTROLLER_PORT", "9095"))
        # A second JVM on a laptop: smaller than the plain broker, which carries the heavy tests.
        self.heap = os.environ.get("DEVSTACK_SECURE_KAFKA_HEAP", "512m")
        self.version = kafka_version()
        self.home = self.state_dir / "kafka"
        self.data_dir = self.home / "data"
        self.config_file = self.home / "server.properties"
        self.libs = CACHE_DIR / f"kafka-{self.version}" / "libs"

    @property
    def credentials(self) -> Credentials:
        return ensure_credentials(self.state_dir)

    @property
    def certificates(self) -> Certificates:
        return ensure_certificates(self.state_dir / "tls")

    def server_properties(self) -> str:
        plain = super().server_properties().splitlines()
        replaced = ("listeners=", "advertised.listeners=", "inter.broker.listener.name=",
                    "listener.security.protocol.map=")
        kept = [line for line in plain if line and not line.startswith(replaced)]
        creds, certs = self.credentials, self.certificates
        chain = _one_line(certs.broker_cert.read_text() + certs.ca_file.read_text())
        jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required '
                f'username="{creds.broker_user}" password="{creds.broker_password}";')
        return "\n".join(
            [
                *kept,
                # Clients get SASL_SSL only; the controller stays PLAINTEXT on loopback inside this one process.
                f"listeners=SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=SASL_SSL://127.0.0.1:{self.port}",
                "inter.broker.listener.name=SASL_SSL",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
                f"sasl.enabled.mechanisms={self.mechanism}",
                f"sasl.mechanism.inter.broker.protocol={self.mechanism}",
                f"listener.name.sasl_ssl.{self.mechanism.lower()}.sasl.jaas.config={jaas}",
                # No authorizer runs (any authenticated user may do anything); this matters once one is added.
                f"super.users=User:{creds.broker_user}",
                # PEM stores: the chain and key inline (\\n escapes), the CA by file; no keytool, no JKS passwords.
                "ssl.keystore.type=PEM",
                f"ssl.keystore.certificate.chain={chain}",
                f"ssl.keystore.key={_one_line(certs.broker_key.read_text())}",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={certs.ca_file}",
                "ssl.client.auth=none",
                "",
            ]
        )

    def format_args(self) -> list[str]:
        creds = self.credentials
        return [
            "--add-scram", f"{self.mechanism}=[name={creds.kafka_user},password={creds.kafka_password}]",
            "--add-scram", f"{self.mechanism}=[name={creds.broker_user},password={creds.broker_password}]",
        ]

    def prepare(self) -> None:
        self.ensure_jars()
        self.home.mkdir(parents=True, exist_ok=True)
        write_private(self.config_file, self.server_properties())  # holds the broker key and password
        (self.home / "log4j2.properties").write_text(LOG4J2_CONFIG)
        # SCRAM users live in the metadata log: new passwords (credentials file deleted) need fresh storage.
        fingerprint_file = self.home / "scram.sha256"
        fingerprint = hashlib.sha256(" ".join(self.format_args()).encode()).hexdigest()
        formatted = (self.data_dir / "meta.properties").exists()
        if formatted and fingerprint_file.is_file() and fingerprint_file.read_text() == fingerprint:
            return
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.format_storage()
        fingerprint_file.write_text(fingerprint)

    def healthy(self) -> bool:
        if not port_open(self.host, self.port) or not credentials_file(self.state_dir).is_file():
            return False  # never started here: nothing to log in with (and status must not create passwords)
        from aiokafka.helpers import create_ssl_context

        creds = self.credentials
        options = {
            "security_protocol": "SASL_SSL",
            "ssl_context": create_ssl_context(cafile=str(self.certificates.ca_file)),
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": creds.kafka_user,
            "sasl_plain_password": creds.kafka_password,
        }
        return asyncio.run(_metadata_ok(f"{self.host}:{self.port}", **options))

    def client_env(self) -> dict[str, str]:
        """The settings a worker needs to reach this broker."""
        creds = self.credentials
        return {
            "ENGINE_KAFKA__BOOTSTRAP_SERVERS": self.address,
            "ENGINE_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "ENGINE_KAFKA__SASL_MECHANISM": self.mechanism,
            "ENGINE_KAFKA__SASL_USERNAME": creds.kafka_user,
            "ENGINE_KAFKA__SASL_PASSWORD": creds.kafka_password,
            "ENGINE_KAFKA__SSL_CAFILE": str(self.certificates.ca_file),
        }


def _one_line(pem: str) -> str:
    """PEM text as one properties value: Java's Properties turns each \\n escape back into a newline."""
    return "\\n".join(line.strip() for line in pem.strip().splitlines())


async def _metadata_ok(bootstrap: str, **security: object) -> bool:
    """A real metadata request: the broker is up and the controller has elected itself."""
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, api_version="auto", **security)
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=5)
        metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout=5)
        return bool(metadata.brokers())
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await client.close()


def _kafka_uuid() -> str:
    """A cluster id in Kafka's format: a random UUID as unpadded URL-safe base64, never starting with "-".

    One id in 64 starts with "-", which `kafka-storage format -t` reads as an option ("expected one argument":
    a private stack failed to start in one CI run); Kafka's own Uuid.randomUuid() skips those ids too.
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
