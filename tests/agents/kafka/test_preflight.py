"""Wrong or missing Kafka/Redis security settings stop the worker with one line naming the setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.kafka.preflight import PreflightError, check_connections, redis_address
from engine.settings import SettingsError, load_settings_with
from tests.devstack.secure_stack import SecureStack, secure_stack
from tests.support import ROOT

__all__ = ["secure_stack"]  # the session fixture, shared with tests/devstack/test_secure_stack.py

pytestmark = pytest.mark.integration

PLAIN_KAFKA = {"ENGINE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9092"}
PLAIN_REDIS = {"ENGINE_REDIS_URL": "redis://127.0.0.1:6379/0"}


def kafka_env(stack: SecureStack) -> dict[str, str]:
    return {name: value for name, value in stack.env.items() if name.startswith("ENGINE_KAFKA__")}


def problem(env: dict[str, str]) -> str:
    """The preflight's message for these settings (they must fail)."""
    with pytest.raises(PreflightError) as caught:
        check_connections(load_settings_with(env), timeout_s=5)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_right_credentials_pass(secure_stack: SecureStack, services: None) -> None:
    """The generated settings reach the secured stack, and the defaults still reach the plain one."""
    check_connections(load_settings_with(secure_stack.env), timeout_s=5)
    check_connections(load_settings_with({**PLAIN_KAFKA, **PLAIN_REDIS}), timeout_s=5)


def test_wrong_kafka_password(secure_stack: SecureStack) -> None:
    """A wrong SCRAM password names ENGINE_KAFKA__SASL_PASSWORD, the user, the address and the mechanism."""
    env = {**secure_stack.env, "ENGINE_KAFKA__SASL_PASSWORD": "not-the-password"}
    assert problem(env) == ("ENGINE_KAFKA__SASL_PASSWORD: authentication failed for user engine at 127.0.0.1:9094 "
                            "(SCRAM-SHA-512)")


def test_plaintext_client_against_sasl_ssl(secure_stack: SecureStack) -> None:
    """A PLAINTEXT client on the SASL_SSL port is told the port speaks TLS."""
    env = {"ENGINE_KAFKA__BOOTSTRAP_SERVERS": secure_stack.env["ENGINE_KAFKA__BOOTSTRAP_SERVERS"], **PLAIN_REDIS}
    assert problem(env) == ("ENGINE_KAFKA__SECURITY_PROTOCOL is PLAINTEXT but 127.0.0.1:9094 speaks TLS "
                            "(SSL or SASL_SSL)")


def test_sasl_ssl_client_against_plaintext(secure_stack: SecureStack, services: None) -> None:
    """A SASL_SSL client on the PLAINTEXT broker (9092) is told it speaks PLAINTEXT."""
    env = {**secure_stack.env, **PLAIN_KAFKA, **PLAIN_REDIS}
    assert problem(env) == "ENGINE_KAFKA__SECURITY_PROTOCOL is SASL_SSL but 127.0.0.1:9092 speaks PLAINTEXT"


def test_sasl_plaintext_client_against_plaintext(secure_stack: SecureStack, services: None) -> None:
    """SASL without TLS on the PLAINTEXT broker, once an IllegalSaslStateError, now says what the port speaks."""
    env = {**secure_stack.env, **PLAIN_KAFKA, **PLAIN_REDIS, "ENGINE_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT"}
    assert problem(env).startswith("ENGINE_KAFKA__SECURITY_PROTOCOL is SASL_PLAINTEXT but 127.0.0.1:9092 speaks "
                                   "PLAINTEXT")


def test_untrusted_broker_certificate(secure_stack: SecureStack) -> None:
    """Without the local CA the broker certificate is not trusted, and ENGINE_KAFKA__SSL_CAFILE is named."""
    env = {k: v for k, v in secure_stack.env.items() if k != "ENGINE_KAFKA__SSL_CAFILE"}
    assert problem(env).startswith("ENGINE_KAFKA__SSL_CAFILE: broker certificate not trusted at 127.0.0.1:9094")


def test_wrong_sasl_mechanism(secure_stack: SecureStack) -> None:
    """A mechanism the broker does not offer names ENGINE_KAFKA__SASL_MECHANISM."""
    env = {**secure_stack.env, "ENGINE_KAFKA__SASL_MECHANISM": "SCRAM-SHA-256"}
    assert problem(env) == "ENGINE_KAFKA__SASL_MECHANISM: 127.0.0.1:9094 does not offer SCRAM-SHA-256"


def test_missing_kafka_password_is_a_settings_error(secure_stack: SecureStack) -> None:
    """SASL_SSL without a password fails before any connection, naming the password setting."""
    env = {k: v for k, v in secure_stack.env.items() if k != "ENGINE_KAFKA__SASL_PASSWORD"}
    with pytest.raises(SettingsError, match=r"ENGINE_KAFKA: .*needs ENGINE_KAFKA__SASL_PASSWORD"):
        load_settings_with(env)


def test_no_broker(secure_stack: SecureStack) -> None:
    """A closed port names ENGINE_KAFKA__BOOTSTRAP_SERVERS."""
    from tests.support import free_port

    env = {"ENGINE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}", **PLAIN_REDIS}
    assert problem(env).startswith("ENGINE_KAFKA__BOOTSTRAP_SERVERS: no broker answers at 127.0.0.1:")


def test_redis_password_against_open_redis(secure_stack: SecureStack, services: None) -> None:
    """A password for the no-auth Redis (6379), once accepted silently, is refused (with and without a user)."""
    for url in ("redis://:some-password@127.0.0.1:6379/0", "redis://engine:some-password@127.0.0.1:6379/0"):
        env = {**kafka_env(secure_stack), "ENGINE_REDIS_URL": url}
        assert problem(env) == "ENGINE_REDIS_URL: Redis at 127.0.0.1:6379 has no password set but one was given"


def test_no_password_against_password_redis(secure_stack: SecureStack) -> None:
    """The secured Redis without credentials names ENGINE_REDIS_URL and says it needs a password."""
    env = {**kafka_env(secure_stack), "ENGINE_REDIS_URL": f"redis://{secure_stack.redis.address}/0"}
    assert problem(env).startswith("ENGINE_REDIS_URL: Redis at 127.0.0.1:6380 needs a password")


def test_wrong_redis_password(secure_stack: SecureStack) -> None:
    """A wrong password for the ACL user names ENGINE_REDIS_URL and never prints the password."""
    env = {**kafka_env(secure_stack), "ENGINE_REDIS_URL": f"redis://engine:wrong-one@{secure_stack.redis.address}/0"}
    message = problem(env)
    assert message == "ENGINE_REDIS_URL: Redis at 127.0.0.1:6380 rejected the password of user engine"
    assert "wrong-one" not in message


def test_redis_address_hides_credentials() -> None:
    """Messages show host:port of a Redis URL, never its user or password."""
    assert redis_address("redis://engine:pw@127.0.0.1:6380/0") == "127.0.0.1:6380"
    assert redis_address("redis://localhost/1") == "localhost:6379"


def run_worker(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m agents worker` with these settings (routes off so no model is loaded); it must exit at once."""
    import os

    return subprocess.run(
        [sys.executable, "-m", "agents", "worker"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **env, "ENGINE_ROUTE__ENABLED": "false", "ENGINE_DATA_DIR": str(tmp_path / "state")},
    )


@pytest.mark.parametrize("case", ["wrong password", "sasl_ssl against plaintext", "password against open redis"])
def test_worker_exits_with_one_line(case: str, secure_stack: SecureStack, services: None, tmp_path: Path) -> None:
    """The worker command prints just `error: <setting>: ...` (no traceback) and exits 2."""
    env, setting = {
        "wrong password": ({**secure_stack.env, "ENGINE_KAFKA__SASL_PASSWORD": "nope"}, "ENGINE_KAFKA__SASL_PASSWORD"),
        "sasl_ssl against plaintext": ({**secure_stack.env, **PLAIN_KAFKA, **PLAIN_REDIS},
                                       "ENGINE_KAFKA__SECURITY_PROTOCOL"),
        "password against open redis": ({**kafka_env(secure_stack), "ENGINE_REDIS_URL": "redis://:pw@127.0.0.1:6379/0"},
                                        "ENGINE_REDIS_URL"),
    }[case]
    result = run_worker(env, tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {setting}"), result.stderr


def test_unreachable_redis_is_a_warning_not_a_refusal(services: None, caplog: pytest.LogCaptureFixture) -> None:
    """Redis is a cache: a worker starts while it is down (plans and audit records still go to Kafka), and says so."""
    from tests.support import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    check_connections(load_settings_with({**PLAIN_KAFKA, "ENGINE_REDIS_URL": url}), timeout_s=2)
    assert any("no Redis answers" in r.getMessage() and "ENGINE_REDIS_URL" in r.getMessage()
               for r in caplog.records)
