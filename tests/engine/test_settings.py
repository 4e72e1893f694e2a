"""Tests of Settings: environment and TOML in, clear errors naming the variable out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.settings import LlmSettings, SettingsError, known_env_names, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ENGINE_* variable from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("ENGINE_"):
            monkeypatch.delenv(name)
    yield


def test_defaults_point_at_the_devstack() -> None:
    """Without configuration the engine talks to the local Kafka and Redis every 15 s."""
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == ["127.0.0.1:9092"]
    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert str(settings.redis_url) == "redis://127.0.0.1:6379/0"
    assert settings.cycle_seconds == 15
    assert settings.topics.orders == "orders" and settings.topics.dead_letters == "dead-letters"
    assert settings.llm.backend == "llama_cpp"
    assert settings.route.worst_case_s <= settings.cycle_seconds - 1
    assert (settings.route.llm_s, settings.route.improve_s, settings.route.solver_s) == (3.75, 7.5, 7.5)


def test_settings_are_frozen() -> None:
    """Loaded settings cannot be changed behind the workers' backs."""
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.cycle_seconds = 1  # type: ignore[misc]


def test_nested_env_and_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """ENGINE_KAFKA__BOOTSTRAP_SERVERS takes host:port,host:port; nested keys use __."""
    monkeypatch.setenv("ENGINE_KAFKA__BOOTSTRAP_SERVERS", "a:1,b:2")
    monkeypatch.setenv("ENGINE_TOPICS__ROUTES", "fleet-routes")
    monkeypatch.setenv("ENGINE_CYCLE_SECONDS", "30")
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == ["a:1", "b:2"]
    assert settings.kafka.faust_broker == "kafka://a:1;kafka://b:2"
    assert settings.topics.routes == "fleet-routes"
    assert settings.cycle_seconds == 30.0


def test_spaces_around_servers_are_trimmed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blanks around commas and a trailing comma do not make bogus servers."""
    monkeypatch.setenv("ENGINE_KAFKA__BOOTSTRAP_SERVERS", " k1:9092 , k2:9093, ")
    assert load_settings().kafka.bootstrap_servers == ["k1:9092", "k2:9093"]


def test_explicit_overrides_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arguments to load_settings win over the environment."""
    monkeypatch.setenv("ENGINE_CYCLE_SECONDS", "30")
    assert load_settings(cycle_seconds=20).cycle_seconds == 20


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENGINE_CYCLE_SECONDS", "-1"),
        ("ENGINE_CYCLE_SECONDS", "soon"),
        ("ENGINE_CYCLE_SECONDS", "nan"),
        ("ENGINE_REDIS_URL", "http://localhost"),
        ("ENGINE_KAFKA__BOOTSTRAP_SERVERS", "nohostport"),
        ("ENGINE_KAFKA__BOOTSTRAP_SERVERS", "host:99999"),
        ("ENGINE_KAFKA__BOOTSTRAP_SERVERS", ","),
        ("ENGINE_KAFKA__SECURITY_PROTOCOL", "TLS"),
        ("ENGINE_TOPICS__ORDERS", "bad topic!"),
        ("ENGINE_LLM__N_GPU_LAYERS", "-5"),
        ("ENGINE_LOG_LEVEL", "LOUD"),
        ("ENGINE_WORKER_WEB_PORT", "80"),
        ("ENGINE_FRAUD__ALERT_THRESHOLD", "1.5"),
        ("ENGINE_FRAUD__BATCH_WAIT_MS", "0"),
        ("ENGINE_FRAUD__DRIFT_MIN_PRECISION", "-0.1"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """A bad value fails at start-up with a message that names the variable to fix."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"{name}: "):
        load_settings()


def test_bad_server_is_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The message quotes the server that is not host:port."""
    monkeypatch.setenv("ENGINE_KAFKA__BOOTSTRAP_SERVERS", "a:1,nohostport")
    with pytest.raises(SettingsError, match="'nohostport' is not host:port"):
        load_settings()


def test_every_bad_setting_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several bad settings are reported together, one line each."""
    monkeypatch.setenv("ENGINE_CYCLE_SECONDS", "-1")
    monkeypatch.setenv("ENGINE_REDIS_URL", "http://localhost")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "ENGINE_CYCLE_SECONDS" in str(caught.value) and "ENGINE_REDIS_URL" in str(caught.value)


def test_route_budget_must_fit_the_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage budgets longer than the cycle are refused, naming the cycle and the budget variables; unset ones
    follow the cycle and always fit."""
    monkeypatch.setenv("ENGINE_CYCLE_SECONDS", "5")
    assert load_settings().route.worst_case_s == pytest.approx(3.75)
    monkeypatch.setenv("ENGINE_ROUTE__LLM_S", "6")
    with pytest.raises(SettingsError, match=r"ENGINE_CYCLE_SECONDS 5 s.*ENGINE_ROUTE__LLM_S"):
        load_settings()
    monkeypatch.setenv("ENGINE_ROUTE__ENABLED", "false")
    assert load_settings().cycle_seconds == 5


def test_sasl_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """SASL without mechanism, user and password is refused, listing what is missing."""
    monkeypatch.setenv("ENGINE_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(SettingsError, match=r"ENGINE_KAFKA: .*needs ENGINE_KAFKA__SASL_MECHANISM, "
                       r"ENGINE_KAFKA__SASL_USERNAME, ENGINE_KAFKA__SASL_PASSWORD"):
        load_settings()


def test_sasl_without_password_names_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """SASL with a user but no password names only the password."""
    monkeypatch.setenv("ENGINE_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ENGINE_KAFKA__SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("ENGINE_KAFKA__SASL_USERNAME", "engine")
    with pytest.raises(SettingsError, match=r"needs ENGINE_KAFKA__SASL_PASSWORD$"):
        load_settings()


def test_sasl_complete_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A complete SASL setup loads and keeps the password secret in its repr."""
    monkeypatch.setenv("ENGINE_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ENGINE_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ENGINE_KAFKA__SASL_USERNAME", "engine")
    monkeypatch.setenv("ENGINE_KAFKA__SASL_PASSWORD", "s3cret")
    settings = load_settings()
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_missing_tls_file_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A TLS file that does not exist is reported with its variable and path."""
    missing = tmp_path / "ca.pem"
    monkeypatch.setenv("ENGINE_KAFKA__SSL_CAFILE", str(missing))
    with pytest.raises(SettingsError, match="ENGINE_KAFKA__SSL_CAFILE") as caught:
        load_settings()
    assert str(missing) in str(caught.value)


def test_existing_tls_files_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """TLS files that exist load; a certificate needs its key."""
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("-----BEGIN-----\n")
    monkeypatch.setenv("ENGINE_KAFKA__SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("ENGINE_KAFKA__SSL_CAFILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("ENGINE_KAFKA__SSL_CERTFILE", str(tmp_path / "cert.pem"))
    with pytest.raises(SettingsError, match="ssl_certfile and ssl_keyfile go together"):
        load_settings()
    monkeypatch.setenv("ENGINE_KAFKA__SSL_KEYFILE", str(tmp_path / "key.pem"))
    assert load_settings().kafka.ssl_keyfile == tmp_path / "key.pem"


def test_unknown_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo such as ENGINE_CYCLE_SECOND is not silently ignored."""
    monkeypatch.setenv("ENGINE_CYCLE_SECOND", "5")
    monkeypatch.setenv("ENGINE_KAFKA__BOOTSTRAP", "a:1")
    with pytest.raises(SettingsError, match=r"unknown setting.*ENGINE_CYCLE_SECOND, ENGINE_KAFKA__BOOTSTRAP"):
        load_settings()


def test_known_names_cover_nested_fields() -> None:
    """Every top-level and section field has its ENGINE_* name, so none is mistaken for a typo."""
    names = known_env_names()
    assert {"ENGINE_CYCLE_SECONDS", "ENGINE_KAFKA__BOOTSTRAP_SERVERS", "ENGINE_LLM__MODEL_PATH",
            "ENGINE_TOPICS__PARTITIONS", "ENGINE_ROUTE__LLM_S", "ENGINE_CONFIG_FILE"} <= names


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


def test_toml_sections_merge_with_nested_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A nested env variable overrides one key of a TOML section and keeps the file's other keys."""
    config = tmp_path / "engine.toml"
    config.write_text('[kafka]\nbootstrap_servers = "b:9092,c:9092"\nsasl_username = "file-user"\n')
    monkeypatch.setenv("ENGINE_CONFIG_FILE", str(config))
    monkeypatch.setenv("ENGINE_KAFKA__SASL_USERNAME", "env-user")
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == ["b:9092", "c:9092"]
    assert settings.kafka.sasl_username == "env-user"


def test_bad_value_in_toml_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A bad value in the file is reported under the setting's name."""
    config = tmp_path / "engine.toml"
    config.write_text("cycle_seconds = -3\n")
    monkeypatch.setenv("ENGINE_CONFIG_FILE", str(config))
    with pytest.raises(SettingsError, match="ENGINE_CYCLE_SECONDS"):
        load_settings()


def test_toml_syntax_error_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A config file that is not TOML is named, with the variable that points at it."""
    config = tmp_path / "broken.toml"
    config.write_text("cycle_seconds = \n")
    monkeypatch.setenv("ENGINE_CONFIG_FILE", str(config))
    with pytest.raises(SettingsError, match=r"ENGINE_CONFIG_FILE: .*broken\.toml is not valid TOML"):
        load_settings()


def test_missing_config_file_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A config file that does not exist is named in the error."""
    monkeypatch.setenv("ENGINE_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match=r"ENGINE_CONFIG_FILE: .*nope\.toml does not exist"):
        load_settings()


def test_section_env_that_is_not_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole section given as non-JSON text is a SettingsError, not a crash."""
    monkeypatch.setenv("ENGINE_KAFKA", "not json")
    with pytest.raises(SettingsError, match="kafka"):
        load_settings()


def test_model_file_check_names_the_setting(tmp_path: Path) -> None:
    """Commands that load the model fail early, naming ENGINE_LLM__MODEL_PATH and the path."""
    missing = tmp_path / "granite.gguf"
    settings = load_settings(llm={"model_path": missing})
    with pytest.raises(SettingsError, match="ENGINE_LLM__MODEL_PATH") as caught:
        settings.llm.check_model_file()
    assert str(missing) in str(caught.value)


def test_model_file_check_passes_for_existing_file(tmp_path: Path) -> None:
    """An existing model file passes the check (and the HTTP backend needs no file at all)."""
    model = tmp_path / "granite.gguf"
    model.write_bytes(b"GGUF")
    assert LlmSettings(model_path=model).check_model_file() is None
    remote = LlmSettings(backend="openai", base_url="http://127.0.0.1:8080/v1",  # type: ignore[arg-type]
                         model_path=tmp_path / "absent.gguf")
    assert remote.check_model_file() is None


def test_openai_backend_needs_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP backend without a base URL is a configuration error."""
    monkeypatch.setenv("ENGINE_LLM__BACKEND", "openai")
    with pytest.raises(SettingsError, match="base_url"):
        load_settings()


def test_fraud_review_deadline_must_fit_the_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    """With fraud review on, a review deadline longer than the cycle is refused with the variable to lower."""
    monkeypatch.setenv("ENGINE_ROUTE__ENABLED", "false")
    monkeypatch.setenv("ENGINE_FRAUD__ENABLED", "true")
    monkeypatch.setenv("ENGINE_CYCLE_SECONDS", "5")
    monkeypatch.setenv("ENGINE_FRAUD__REVIEW_S", "8")
    with pytest.raises(SettingsError, match="ENGINE_FRAUD__REVIEW_S"):
        load_settings()
    monkeypatch.setenv("ENGINE_FRAUD__REVIEW_ENABLED", "false")
    assert load_settings().fraud.review_s == 8
