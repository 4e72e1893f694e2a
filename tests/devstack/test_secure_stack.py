"""The secured devstack (SASL_SSL/SCRAM-SHA-512 Kafka, password Redis) and a real worker running against it."""

from __future__ import annotations

import ssl
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from agents.worker_process import WorkerProcess
from devstack.__main__ import main as devstack_main
from devstack.kafka import Kafka, SecureKafka
from schemas import GeoPoint, OrderEvent, RoutePlan, TimeWindow, VehicleEvent
from tests.devstack.secure_stack import SecureStack, consume_secure, produce_secure, secure_redis, secure_stack
from tests.support import IsolatedEngine, wait_for

__all__ = ["secure_stack"]  # the session fixture, shared with tests/agents/kafka/test_preflight.py

pytestmark = pytest.mark.integration


def properties(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), "a key is set twice"
    return {key: value for key, value in pairs}


@pytest.fixture
def scratch_kafka(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SecureKafka:
    """A SecureKafka whose state (passwords, certificates) lives in tmp_path, away from the running one."""
    for name in ("DEVSTACK_SECURE_KAFKA_PORT", "DEVSTACK_SECURE_KAFKA_CONTROLLER_PORT"):
        monkeypatch.delenv(name, raising=False)
    kafka = SecureKafka()
    kafka.state_dir = tmp_path
    kafka.home = tmp_path / "kafka"
    kafka.data_dir = kafka.home / "data"
    return kafka


def test_secure_listener_is_sasl_ssl_only(scratch_kafka: SecureKafka) -> None:
    """Clients get one SASL_SSL listener with SCRAM-SHA-512 on 127.0.0.1:9094; the controller stays on loopback."""
    props = properties(scratch_kafka.server_properties())
    assert props["listeners"] == "SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:9094"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9095"
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.keystore.key"].startswith("-----BEGIN PRIVATE KEY-----\\n")
    assert "0.0.0.0" not in scratch_kafka.server_properties()


def test_plain_stack_is_unchanged() -> None:
    """The default broker keeps its PLAINTEXT listener on 9092 and its own state dir."""
    plain = Kafka()
    assert properties(plain.server_properties())["listeners"].startswith("PLAINTEXT://127.0.0.1:")
    assert plain.pid_file != SecureKafka().pid_file and plain.data_dir != SecureKafka().data_dir


def test_passwords_are_generated_once(scratch_kafka: SecureKafka) -> None:
    """The credentials file is created 0600 with random passwords and read back unchanged afterwards."""
    first = scratch_kafka.credentials
    path = scratch_kafka.state_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(scratch_kafka.state_dir.stat().st_mode) == 0o700
    assert scratch_kafka.credentials == first
    assert len({first.kafka_password, first.broker_password, first.redis_password}) == 3
    assert all(len(p) >= 24 for p in (first.kafka_password, first.broker_password, first.redis_password))


def test_broker_certificate_is_signed_by_the_local_ca(scratch_kafka: SecureKafka) -> None:
    """openssl verifies the broker certificate against the CA; it names 127.0.0.1 and localhost; keys are 0600."""
    certs = scratch_kafka.certificates
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(certs.ca_file), str(certs.broker_cert)],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    san = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(certs.broker_cert)],
                         capture_output=True, text=True, check=True).stdout
    assert "IP Address:127.0.0.1" in san and "DNS:localhost" in san
    assert stat.S_IMODE(certs.broker_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(certs.ca_key.stat().st_mode) == 0o600


def test_secure_stack_status_and_env(secure_stack: SecureStack, capsys: pytest.CaptureFixture[str]) -> None:
    """`status --secure` shows both servers healthy on their own ports; `env --secure` prints every worker setting."""
    assert devstack_main(["status", "--secure"]) == 0
    status = capsys.readouterr().out
    assert "127.0.0.1:9094" in status and "127.0.0.1:6380" in status and "down" not in status
    assert devstack_main(["env", "--secure"]) == 0
    exported = capsys.readouterr().out
    for name in ("ENGINE_KAFKA__BOOTSTRAP_SERVERS", "ENGINE_KAFKA__SECURITY_PROTOCOL", "ENGINE_KAFKA__SASL_MECHANISM",
                 "ENGINE_KAFKA__SASL_USERNAME", "ENGINE_KAFKA__SASL_PASSWORD", "ENGINE_KAFKA__SSL_CAFILE",
                 "ENGINE_REDIS_URL"):
        assert f"export {name}=" in exported


def test_secret_files_are_private(secure_stack: SecureStack) -> None:
    """Broker config (key, JAAS password), Redis ACL file and credentials are readable by their owner only."""
    for path in (secure_stack.kafka.config_file, secure_stack.redis.config_file,
                 secure_stack.kafka.state_dir / "credentials.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_secure_redis_refuses_anonymous_clients(secure_stack: SecureStack) -> None:
    """Without the ACL user's password the secured Redis answers nothing; with it, it does."""
    anonymous = redis.Redis(host="127.0.0.1", port=secure_stack.redis.port, socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    assert secure_redis(secure_stack).ping() is True


def test_tls_needs_the_local_ca(secure_stack: SecureStack) -> None:
    """The broker's TLS certificate is refused by the system CAs and accepted with the generated CA file."""
    import socket

    def handshake(context: ssl.SSLContext) -> None:
        with socket.create_connection(("127.0.0.1", secure_stack.kafka.port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1"):
            pass

    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ssl.create_default_context())
    handshake(ssl.create_default_context(cafile=secure_stack.env["ENGINE_KAFKA__SSL_CAFILE"]))


def fleet(now: datetime) -> tuple[list[VehicleEvent], list[OrderEvent]]:
    shift = TimeWindow(start=now - timedelta(hours=1), end=now + timedelta(hours=8))
    vehicles = [VehicleEvent(event_id=f"v{i}-0", fleet_id="fleet-s", vehicle_id=f"v{i}", occurred_at=now,
                             position=GeoPoint(lat=53.40 + 0.01 * i, lon=-2.99), capacity=10, shift=shift)
                for i in range(2)]
    orders = [OrderEvent(event_id=f"o{i}-c", action="create", fleet_id="fleet-s", order_id=f"o{i}", occurred_at=now,
                         location=GeoPoint(lat=53.40 + 0.004 * i, lon=-2.98), demand=2,
                         time_window=TimeWindow(start=now, end=now + timedelta(hours=4)), service_time_s=120)
              for i in range(4)]
    return vehicles, orders


def test_worker_routes_over_sasl_ssl_and_password_redis(secure_stack: SecureStack, tmp_path: Path,
                                                        tiny_granite: tuple[Path, Path]) -> None:
    """A real worker on SASL_SSL Kafka + password Redis consumes fleet events and publishes a plan to both."""
    engine = IsolatedEngine.create(
        tmp_path / "state", **secure_stack.env, ENGINE_ROUTE__ENABLED="true", ENGINE_CYCLE_SECONDS="4",
        ENGINE_ROUTE__LLM_S="1.0", ENGINE_ROUTE__IMPROVE_S="0.5", ENGINE_ROUTE__SOLVER_S="0.5",
        ENGINE_LLM__N_CTX="8192", ENGINE_LLM__MODEL_PATH=str(tiny_granite[1]))
    worker = WorkerProcess(engine.env, tmp_path / "worker.log")
    worker.start()
    try:
        vehicles, orders = fleet(datetime.now(UTC))
        topics = engine.settings.topics
        produce_secure(engine.settings, topics.vehicles, [(b"fleet-s", v.to_bytes()) for v in vehicles])
        produce_secure(engine.settings, topics.orders, [(b"fleet-s", o.to_bytes()) for o in orders])

        def complete_plan() -> RoutePlan | None:
            for value in consume_secure(engine.settings, topics.routes):
                plan = RoutePlan.from_bytes(value)
                if len(plan.unassigned) + sum(len(r.stops) for r in plan.routes) == len(orders):
                    return plan
            return None

        plan = wait_for(complete_plan, 60, "a plan covering the four orders on the SASL_SSL routes topic")
        assert plan.fleet_id == "fleet-s" and plan.checked is True
        key = f"{engine.settings.redis_prefix}:fleet:fleet-s:plan"
        stored = wait_for(lambda: secure_redis(secure_stack).get(key), 10, "the plan in the password Redis")
        assert RoutePlan.model_validate_json(stored).fleet_id == "fleet-s"
        summary = f"{engine.settings.redis_prefix}:fleet:fleet-s:summary"
        applied = len(vehicles) + len(orders)
        wait_for(lambda: secure_redis(secure_stack).hget(summary, "events_applied") == str(applied), 10,
                 f"all {applied} fleet events counted in the password Redis")
    finally:
        assert worker.stop() is not None
