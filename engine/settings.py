"""Settings: one object from environment variables (ENGINE_...) and an optional TOML file."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    RedisDsn,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "ENGINE_"
CONFIG_FILE_ENV = "ENGINE_CONFIG_FILE"


class SettingsError(ValueError):
    """A setting is wrong; the message names each bad setting by its environment variable."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    """Where the brokers are and how to authenticate."""

    # NoDecode: the env value is "host:port,host:port", not JSON.
    bootstrap_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1:9092"], min_length=1
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # A killed worker's partitions move after the session timeout: Faust's default 60 s meant ~4 missed cycles.
    # Searches run in other processes, so the worker's heartbeats are never starved for this long.
    session_timeout_s: float = Field(default=10.0, ge=6, le=300, description="Consumer-group session timeout.")
    heartbeat_interval_s: float = Field(default=3.0, gt=0, le=100, description="Consumer heartbeat interval "
                                        "(at most a third of the session timeout).")
    # Faust asks the broker to hold each fetch up to 1.5 s. aiokafka keeps one fetch in flight per broker and
    # leaves out partitions that still hold fetched records, so a fetch for idle partitions kept fresh
    # payments waiting: fraud p50 was 1.2 s at 1,000/s, 39 ms at 10 ms. An idle worker polls 100 times a second.
    fetch_max_wait_ms: int = Field(default=10, ge=1, le=1500, description="Longest the broker holds a worker's "
                                   "fetch while its partitions have nothing new (Faust's own value is 1,500).")
    # Answered at once (1 byte), a worker's fetches at 1,000 payments/s came every ~1-2 ms with a handful of
    # records each; with Faust's consumer in its own thread each round trip traded the GIL with the agents (py-spy:
    # 18 % of that thread's samples and 9 % of the loop's were socket calls that let go of the GIL and waited to
    # take it back). Held for 16 KiB or the fetch wait, fetches come every ~10 ms instead: fraud p99 at 1,000/s
    # 30-32 ms against 51-55 ms. A slow stream pays up to the fetch wait (p50 at 100/s 13 ms against 7 ms): a
    # low-rate deployment sets 1.
    fetch_min_bytes: int = Field(default=16_384, ge=1, le=1_048_576, description="Bytes the broker waits for (up "
                                 "to fetch_max_wait_ms) before it answers a worker's fetch (1: answer at once).")
    # Faust's consumer runs in a thread of its own; the fetcher's Python then took turns on the GIL with the agents,
    # and after each socket call the event loop could wait out the 5 ms switch interval to get it back. On the
    # worker's loop instead: fraud p50 at 1,000/s 36-38 ms against 48-60 ms, p99 120-133 ms against 150-283 ms.
    # Opt-in: in one CI run on the loop, a fraud worker neither scored nor stopped for 60 s (not seen again in
    # two local runs of the fraud, kafka and fault suites); until that is explained the default stays Faust's thread.
    consumer_in_loop: bool = Field(default=False, description="Run Faust's consumer on the worker's event loop "
                                   "(false: in a thread of its own, as Faust does).")
    # Faust stops fetching a partition once its stream holds 80 % of this many events and fetches it again only
    # when the stream is down to 40 %. At Faust's 4,096 a fraud worker taking batches of 500 out of a backlog
    # emptied its buffer before the refetched records came back: its loop sat idle 15-17 ms after every batch
    # (py-spy: 37 % of the drain in select) and drained 8,000 tx/s against bare Faust's 13,700.
    stream_buffer_maxsize: int = Field(default=32_768, ge=1_024, le=1_048_576,
                                       description="Events Faust buffers per stream before it pauses fetching "
                                       "(Faust's stream_buffer_maxsize; its default is 4,096).")

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port(cls, servers: list[str]) -> list[str]:
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server!r} is not host:port")
        return servers

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _file_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"file {path} does not exist")
        return path

    @model_validator(mode="after")
    def _security_complete(self) -> Self:
        if self.security_protocol.startswith("SASL"):
            missing = [n for n in ("sasl_mechanism", "sasl_username", "sasl_password") if getattr(self, n) is None]
            if missing:
                names = ", ".join(f"{ENV_PREFIX}KAFKA__{name.upper()}" for name in missing)
                raise ValueError(f"security_protocol {self.security_protocol} needs {names}")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        if self.heartbeat_interval_s * 3 > self.session_timeout_s:
            raise ValueError("heartbeat_interval_s must be at most a third of session_timeout_s")
        return self

    @property
    def faust_broker(self) -> str:
        return ";".join(f"kafka://{server}" for server in self.bootstrap_servers)


class TopicSettings(_Section):
    """Topic names; every worker and client reads them from here."""

    orders: str = "orders"
    vehicles: str = "vehicles"
    traffic: str = "traffic"
    transactions: str = "transactions"
    fraud_labels: str = "fraud-labels"
    routes: str = "routes"
    decisions: str = "decisions"
    fraud_scores: str = "fraud-scores"
    fraud_alerts: str = "fraud-alerts"
    fraud_reviews: str = "fraud-reviews"
    fraud_drift: str = "fraud-drift"
    dead_letters: str = "dead-letters"
    partitions: int = Field(default=4, ge=1, le=1024, description="Partitions for topics the engine creates.")

    @field_validator(
        "orders", "vehicles", "traffic", "transactions", "fraud_labels", "routes", "decisions",
        "fraud_scores", "fraud_alerts", "fraud_reviews", "fraud_drift", "dead_letters",
    )
    @classmethod
    def _legal_topic(cls, name: str) -> str:
        if not name or len(name) > 249 or any(not (c.isalnum() or c in "._-") for c in name):
            raise ValueError(f"{name!r} is not a legal Kafka topic name")
        return name


class LlmSettings(_Section):
    """Which language model proposes decisions and how it runs."""

    backend: Literal["llama_cpp", "openai"] = "llama_cpp"
    model_path: Path = Path("models/tiny-granite-hybrid-q4_k_m.gguf")
    base_url: AnyHttpUrl | None = Field(default=None, description="OpenAI-compatible server, for backend=openai "
                                        "(with or without /v1: it is added when missing).")
    api_key: SecretStr | None = None
    model_name: str = "granite-4.0-h-micro"
    n_ctx: int = Field(default=4096, ge=256, le=131_072, description="Context window in tokens, prompt and answer "
                       "together (openai: the server's, unless it reports its own); longer prompts show fewer orders.")
    n_threads: int | None = Field(default=None, ge=1, le=256)
    n_gpu_layers: int = Field(default=0, ge=-1, description="-1 offloads every layer to the GPU.")
    seed: int = Field(default=0, ge=0)
    max_tokens: int = Field(default=512, ge=1, le=32_768)
    timeout_s: float = Field(default=8.0, gt=0, le=600)
    deterministic: bool = Field(
        default=True,
        description="Reset llama.cpp's context before each request: same prompt, same answer, no KV-prefix reuse.",
    )

    answer_cache: bool = Field(
        default=True,
        description="Keep every answer in Redis by request hash: repeated requests skip the model, backtests reuse it.",
    )
    answer_cache_ttl_s: int = Field(default=7 * 86_400, ge=60, description="How long cached answers are kept.")

    @property
    def identity(self) -> str:
        """What names the model in a request hash: another model or seed never reuses this one's answers."""
        model = self.model_path.name if self.backend == "llama_cpp" else self.model_name
        return f"{self.backend}:{model}:seed={self.seed}"

    @model_validator(mode="after")
    def _backend_complete(self) -> Self:
        if self.backend == "openai" and self.base_url is None:
            raise ValueError("backend openai needs base_url")
        if self.backend == "llama_cpp" and self.max_tokens >= self.n_ctx:  # the answer alone would fill the context
            raise ValueError(f"max_tokens {self.max_tokens} leaves no room for a prompt in n_ctx {self.n_ctx} "
                             "(lower ENGINE_LLM__MAX_TOKENS or raise ENGINE_LLM__N_CTX)")
        return self

    def check_model_file(self) -> None:
        """Fail early when the in-process model file is missing (called by commands that load it)."""
        if self.backend == "llama_cpp" and not self.model_path.is_file():
            raise SettingsError(
                f"{ENV_PREFIX}LLM__MODEL_PATH: model file {self.model_path} does not exist "
                "(build the tiny one with `python -m models.tiny_granite` or download Granite, see models/README.md)"
            )


class RouteSettings(_Section):
    """Per-stage budgets of the route cycle; unset ones are shares of the cycle, and together they fit inside it."""

    enabled: bool = True
    llm_orders: int = Field(default=40, ge=1, le=1000, description="Most urgent orders shown to the LLM.")
    llm_s: float | None = Field(default=None, gt=0, description="LLM window per cycle (default: 25% of the cycle); "
                                "a late answer seeds the next cycle.")
    improve_s: float | None = Field(default=None, gt=0, description="OR-Tools search from each warm start "
                                    "(default: 50% of the cycle).")
    solver_s: float | None = Field(default=None, gt=0, description="The solver candidate (PyVRP warm-started from "
                                   "the best plan so far, else OR-Tools; default: 50% of the cycle).")
    stability_cost: float = Field(default=60.0, ge=0, description="Cost of moving one order to another vehicle.")
    speed_kmh: float = Field(default=30.0, gt=0, le=200, description="Free-flow speed for lat/lon fleets.")
    max_future_s: float = Field(default=300.0, ge=0, description="Fleet events dated further ahead of the time "
                                "received are dead-lettered.")
    ingest_batch_max: int = Field(default=500, ge=1, le=10_000, description="Most fleet events applied in one batch.")
    ingest_batch_wait_ms: float = Field(default=5.0, gt=0, le=1000, description="Longest wait to fill a batch.")
    budget_mode: Literal["time", "work"] = Field(
        default="time",
        description="time: searches stop at their time limits (machine-dependent plans); work: OR-Tools descends "
                    "to a local optimum (at most IMPROVE_SOLUTIONS solutions) and PyVRP runs SOLVER_ITERATIONS, "
                    "so a backtest reproduces the live plans exactly.",
    )
    improve_solutions: int = Field(default=40, ge=1, le=100_000, description="OR-Tools solutions per search (work).")
    solver_iterations: int = Field(default=300, ge=1, le=1_000_000, description="PyVRP iterations (work mode).")
    search_processes: int | None = Field(default=None, ge=0, le=256, description="Processes the searches run in "
                                         "(default: one per core; 0: threads of the worker itself).")

    def for_cycle(self, cycle_seconds: float) -> RouteSettings:
        """These settings with every unset stage budget set to its share of the cycle."""
        shares = {"llm_s": LLM_SHARE, "improve_s": SEARCH_SHARE, "solver_s": SEARCH_SHARE}
        return self.model_copy(update={name: round(cycle_seconds * share, 3)
                                       for name, share in shares.items() if getattr(self, name) is None})

    @property
    def worst_case_s(self) -> float:
        """LLM window, then the searches, which run side by side (previous plan, LLM plan, solver candidate)."""
        resolved = self if self.llm_s is not None else self.for_cycle(DEFAULT_CYCLE_SECONDS)
        assert resolved.llm_s is not None and resolved.improve_s is not None and resolved.solver_s is not None
        return resolved.llm_s + max(resolved.improve_s, resolved.solver_s)


# Unset route budgets are shares of the cycle; the rest of it builds, checks and publishes the plans.
LLM_SHARE, SEARCH_SHARE = 0.25, 0.5
DEFAULT_CYCLE_SECONDS = 15.0


def publish_margin_s(cycle_seconds: float) -> float:
    """Time a cycle keeps for checking and publishing after the searches (3 fleets of 1,000 orders: up to 1.1 s)."""
    return max(0.5, 0.15 * cycle_seconds)


class FraudSettings(_Section):
    """Fraud scoring: which model, when to alert, hard limits, the LLM review and drift bounds."""

    enabled: bool = False
    model_dir: Path = Field(
        default=Path("models/fraud"),
        description="A model folder (model.txt + metadata.json), or a folder of versions with a LATEST file.",
    )
    alert_threshold: float = Field(default=0.5, gt=0, le=1, description="Scores at or above this raise an alert.")
    max_amount: float = Field(default=10_000.0, gt=0, description="Hard limit: larger payments score 1.")
    max_future_s: float = Field(default=300.0, ge=0, description="Payments dated further ahead are rejected.")
    top_reasons: int = Field(default=3, ge=1, le=10)
    batch_max: int = Field(default=500, ge=1, le=10_000, description="Most transactions scored in one batch.")
    batch_wait_ms: float = Field(default=25.0, gt=0, le=1000,
                                 description="Longest a batch stays open after its first payment (0 stalls).")
    batch_idle_ms: float = Field(default=1.0, gt=0, le=1000,
                                 description="A batch is scored once no payment came for this long.")
    blocklist_refresh_s: float = Field(default=5.0, gt=0, le=3600, description="How often block lists are re-read.")
    review_enabled: bool = True
    review_top_k: int = Field(default=5, ge=1, le=50, description="Most uncertain transactions reviewed per cycle.")
    review_s: float = Field(default=8.0, gt=0, description="Deadline of the review request; late answers are dropped.")
    drift_window: int = Field(default=2000, ge=100, description="Recent scores compared with the training ones.")
    drift_max_psi: float = Field(default=0.25, gt=0, description="Population stability index that counts as drift.")
    drift_min_precision: float = Field(default=0.2, ge=0, le=1, description="Alert precision below this is drift.")
    drift_min_labelled_alerts: int = Field(default=20, ge=1, description="Labelled alerts needed to judge precision.")


class Settings(BaseSettings):
    """Everything the engine can be told; defaults run against the local devstack."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    app_id: str = Field(default="decision-engine", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis_url: RedisDsn = RedisDsn("redis://127.0.0.1:6379/0")
    redis_prefix: str = Field(default="engine", pattern=r"^[A-Za-z0-9_-]+$")
    topics: TopicSettings = Field(default_factory=TopicSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    route: RouteSettings = Field(default_factory=RouteSettings)
    fraud: FraudSettings = Field(default_factory=FraudSettings)
    cycle_seconds: float = Field(default=15.0, gt=0, le=3600)
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    worker_web_port: int = Field(default=6066, ge=1024, le=65535)
    http_token: SecretStr | None = Field(
        default=None,
        description="Bearer token the worker's state-changing HTTP endpoints require (unset: they answer 401).",
    )
    data_dir: Path = Field(default=Path(".devstack/worker"), description="Faust's local table state.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("http_token")
    @classmethod
    def _token_long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (make one: python -c 'import secrets; "
                             "print(secrets.token_urlsafe())')")
        return token

    @model_validator(mode="after")
    def _route_budget_fits_cycle(self) -> Self:
        # Unset stage budgets follow the cycle; the settings are frozen, so the resolved section is set in place.
        object.__setattr__(self, "route", self.route.for_cycle(self.cycle_seconds))
        # A plan must be published within its cycle; the margin is kept for building, checking and publishing.
        margin = publish_margin_s(self.cycle_seconds)
        if self.route.enabled and self.route.worst_case_s > self.cycle_seconds - margin:
            raise ValueError(
                f"route budgets add up to {self.route.worst_case_s:g} s (LLM window + the longest search), more "
                f"than ENGINE_CYCLE_SECONDS {self.cycle_seconds:g} s minus {margin:g} s (lower ENGINE_ROUTE__LLM_S "
                "/ __IMPROVE_S / __SOLVER_S, or leave them unset to follow the cycle)"
            )
        if self.fraud.enabled and self.fraud.review_enabled and self.fraud.review_s > self.cycle_seconds:
            raise ValueError(
                f"fraud review deadline {self.fraud.review_s:g} s is longer than ENGINE_CYCLE_SECONDS "
                f"{self.cycle_seconds:g} s (lower ENGINE_FRAUD__REVIEW_S)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then environment, then the TOML file named by ENGINE_CONFIG_FILE.
        config_file = os.environ.get(CONFIG_FILE_ENV)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def known_env_names() -> set[str]:
    """Every ENGINE_* variable that sets something (a typo must not be silently ignored)."""
    names = {CONFIG_FILE_ENV}
    for field_name, field in Settings.model_fields.items():
        names.add(f"{ENV_PREFIX}{field_name.upper()}")
        section = field.annotation
        if isinstance(section, type) and issubclass(section, _Section):
            names.update(f"{ENV_PREFIX}{field_name.upper()}__{sub.upper()}" for sub in section.model_fields)
    return names


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning any error into one SettingsError that names each bad setting."""
    unknown = sorted(name for name in os.environ if name.startswith(ENV_PREFIX) and name not in known_env_names())
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)} (see README, Configuration)")
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file and not Path(config_file).is_file():
        raise SettingsError(f"{CONFIG_FILE_ENV}: config file {config_file} does not exist")
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            path = "__".join(str(part) for part in item["loc"] if not isinstance(part, int))
            name = f"{ENV_PREFIX}{path.upper()}" if path else "settings"
            problems.append(f"  {name}: {item['msg']}")
        if len(problems) == 1:  # the common case reads as one line
            raise SettingsError(f"invalid setting {problems[0].strip()}") from error
        raise SettingsError("invalid settings:\n" + "\n".join(problems)) from error
    except tomllib.TOMLDecodeError as error:  # before ValueError (its base): the bare message names no file
        raise SettingsError(f"{CONFIG_FILE_ENV}: config file {config_file} is not valid TOML: {error}") from error
    except ValueError as error:  # an env value for a section that is not JSON
        cause = f" ({error.__cause__})" if error.__cause__ else ""
        raise SettingsError(f"invalid settings: {error}{cause}") from error


def load_settings_with(env: dict[str, str]) -> Settings:
    """load_settings() as if `env` were added to the environment (which is left as it was)."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        return load_settings()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
