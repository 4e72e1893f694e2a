"""Tests of Settings: environment and TOML in, clear errors naming the variable out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ENGINE_* variable from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("ENGINE_"):
            monkeypatch.delenv(name)
    yield


def test_defaults_point_at_the_devstack() -> None:
    """Without configuration the engine talks to the local Kafka and Redis every 15 s."""
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == ["127.0.0.1:9092"]
    assert str(settings.redis_url) == "redis://127.0.0.1:6379/0"
    assert settings.cycle_seconds == 15
    assert settings.topics.orders == "orders"


def test_nested_env_and_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """ENGINE_KAFKA__BOOTSTRAP_SERVERS takes host:port,host:port; nested keys use __."""
    monkeypatch.setenv("ENGINE_KAFKA__BOOTSTRAP_SERVERS", "k1:9092, k2:9093")
    monkeypatch.setenv("ENGINE_TOPICS__ROUTES", "fleet-routes")
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == ["k1:9092", "k2:9093"]
    assert settings.kafka.faust_broker == "kafka://k1:9092;kafka://k2:9093"
    assert settings.topics.routes == "fleet-routes"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENGINE_CYCLE_SECONDS", "-1"),
        ("ENGINE_CYCLE_SECONDS", "soon"),
        ("ENGINE_REDIS_URL", "http://localhost"),
        ("ENGINE_KAFKA__BOOTSTRAP_SERVERS", "nohostport"),
        ("ENGINE_TOPICS__ORDERS", "bad topic!"),
        ("ENGINE_LLM__N_GPU_LAYERS", "-5"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """A bad value fails at start-up with a message that names the variable to fix."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_sasl_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """SASL without mechanism, user and password is refused, listing what is missing."""
    monkeypatch.setenv("ENGINE_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(SettingsError, match="sasl_mechanism, sasl_username, sasl_password"):
        load_settings()


def test_sasl_complete_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A complete SASL setup loads and keeps the password secret in its repr."""
    monkeypatch.setenv("ENGINE_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ENGINE_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ENGINE_KAFKA__SASL_USERNAME", "engine")
    monkeypatch.setenv("ENGINE_KAFKA__SASL_PASSWORD", "s3cret")
    settings = load_settings()
    assert settings.kafka.sasl_password is not None
    assert "s3cret" not in repr(settings)


def test_missing_tls_file_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A TLS file that does not exist is reported with its path."""
    monkeypatch.setenv("ENGINE_KAFKA__SSL_CAFILE", str(tmp_path / "ca.pem"))
    with pytest.raises(SettingsError, match=r"ca\.pem"):
        load_settings()


def test_unknown_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo such as ENGINE_CYCLE_SECOND is not silently ignored."""
    monkeypatch.setenv("ENGINE_CYCLE_SECOND", "5")
    with pytest.raises(SettingsError, match="ENGINE_CYCLE_SECOND"):
        load_settings()


def test_toml_file_with_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A TOML file named by ENGINE_CONFIG_FILE is read; the environment wins over it."""
    config = tmp_path / "engine.toml"
    config.write_text('cycle_seconds = 20\nredis_prefix = "prod"\n[kafka]\nbootstrap_servers = ["b:9092"]\n')
    monkeypatch.setenv("ENGINE_CONFIG_FILE", str(config))
    monkeypatch.setenv("ENGINE_CYCLE_SECONDS", "30")
    settings = load_settings()
    assert settings.cycle_seconds == 30
    assert settings.redis_prefix == "prod"
    assert settings.kafka.bootstrap_servers == ["b:9092"]


def test_missing_config_file_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A config file that does not exist is named in the error."""
    monkeypatch.setenv("ENGINE_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match=r"nope\.toml"):
        load_settings()


def test_model_file_check_names_the_setting(tmp_path: Path) -> None:
    """Commands that load the model fail early, naming ENGINE_LLM__MODEL_PATH."""
    settings = load_settings(llm={"model_path": tmp_path / "granite.gguf"})
    with pytest.raises(SettingsError, match="ENGINE_LLM__MODEL_PATH"):
        settings.llm.check_model_file()


def test_openai_backend_needs_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP backend without a base URL is a configuration error."""
    monkeypatch.setenv("ENGINE_LLM__BACKEND", "openai")
    with pytest.raises(SettingsError, match="base_url"):
        load_settings()
