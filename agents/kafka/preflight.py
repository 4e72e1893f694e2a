"""Connect to Kafka and Redis as configured before a worker starts; each failure is one line naming the setting."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any
from urllib.parse import urlsplit

import redis
from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from agents.kafka.topics import kafka_client_options
from engine.settings import ENV_PREFIX, Settings, SettingsError

log = logging.getLogger(__name__)
KAFKA = f"{ENV_PREFIX}KAFKA__"
REDIS_URL = f"{ENV_PREFIX}REDIS_URL"


class PreflightError(SettingsError):
    """Kafka or Redis refused the configured connection; the one-line message names the setting to fix."""


def check_connections(settings: Settings, timeout_s: float = 10.0) -> None:
    """Raise PreflightError unless Redis and a bootstrap server accept the configured security and credentials."""
    check_redis(settings, timeout_s)
    asyncio.run(check_kafka(settings, timeout_s))


# ---------------------------------------------------------------- Redis


def redis_address(url: str) -> str:
    """host:port of a Redis URL, without the credentials (messages never show a password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"


def _ping(url: str, timeout_s: float) -> None:
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
    finally:
        client.close()


def check_redis(settings: Settings, timeout_s: float = 10.0) -> None:
    """PING Redis with the URL's credentials; a password the server does not ask for is an error too."""
    url = str(settings.redis_url)
    address = redis_address(url)
    parts = urlsplit(url)
    user, password = parts.username or None, parts.password or None
    try:
        _ping(url, timeout_s)
    except redis.AuthenticationError as error:
        if password is None:
            raise PreflightError(f"{REDIS_URL}: Redis at {address} needs a password "
                                 "(give it as redis://USER:PASSWORD@host:port/db)") from error
        if _open_server(url, timeout_s):  # the server refuses this login but takes anyone without one
            raise PreflightError(f"{REDIS_URL}: Redis at {address} has no password set but one was given") from error
        who = f"user {user}" if user else "the default user"
        raise PreflightError(f"{REDIS_URL}: Redis at {address} rejected the password of {who}") from error
    except redis.ResponseError as error:
        raise PreflightError(f"{REDIS_URL}: Redis at {address} refused the login: {_first_line(error)}") from error
    except (redis.ConnectionError, redis.TimeoutError) as error:
        # Redis is a cache of what Kafka holds: the worker starts without it and its writes retry each cycle.
        log.warning("%s: no Redis answers at %s (%s); starting without it, writes retry until it is back",
                    REDIS_URL, address, _first_line(error))
        return
    except redis.RedisError as error:
        raise PreflightError(f"{REDIS_URL}: Redis at {address} failed the check: {_first_line(error)}") from error
    # redis-py ignores "AUTH <password> called without any password configured": ask without the password.
    if password is not None and _open_server(url, timeout_s):
        raise PreflightError(f"{REDIS_URL}: Redis at {address} has no password set but one was given")


def _open_server(url: str, timeout_s: float) -> bool:
    """True when the server answers PING with no credentials at all."""
    parts = urlsplit(url)
    anonymous = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    try:
        _ping(anonymous, timeout_s)
    except redis.RedisError:
        return False
    return True


# ---------------------------------------------------------------- Kafka


async def check_kafka(settings: Settings, timeout_s: float = 10.0) -> None:
    """Connect (TLS, SASL) and fetch metadata from the first bootstrap server that answers; else explain the first."""
    options = _connection_options(settings)
    first: PreflightError | None = None
    for server in settings.kafka.bootstrap_servers:
        host, _, port = server.rpartition(":")
        try:
            await _connect(host, int(port), options, timeout_s, _cafile_hint(settings))
            return
        except PreflightError as error:
            first = first or error
    assert first is not None  # bootstrap_servers has at least one entry
    raise first


def _connection_options(settings: Settings) -> dict[str, Any]:
    try:
        options = kafka_client_options(settings)
    except (ssl.SSLError, OSError) as error:
        raise PreflightError(f"{KAFKA}SSL_CAFILE / __SSL_CERTFILE / __SSL_KEYFILE: not loadable ({error})") from error
    options.pop("bootstrap_servers", None)
    options.setdefault("security_protocol", settings.kafka.security_protocol)
    return options


def _cafile_hint(settings: Settings) -> str:
    if settings.kafka.ssl_cafile is not None:
        return ""
    return f"; {KAFKA}SSL_CAFILE is not set, so only the system CAs are trusted"


async def _connect(host: str, port: int, options: dict[str, Any], timeout_s: float, cafile_hint: str) -> None:
    protocol = options["security_protocol"]
    address = f"{host}:{port}"
    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, **{**options, "request_timeout_ms": int(timeout_s * 1000)}), timeout_s)
    except Exception as error:  # every failure becomes a message naming a setting
        raise PreflightError(await _explain(error, host, port, options, timeout_s, cafile_hint)) from error
    try:
        await asyncio.wait_for(conn.send(MetadataRequest([])), timeout_s)
    except Exception as error:
        hint = " (the listener wants SASL: SASL_PLAINTEXT?)" if protocol == "PLAINTEXT" else ""
        raise PreflightError(f"{KAFKA}SECURITY_PROTOCOL is {protocol} but {address} closed the connection after "
                             f"connecting{hint}: {_describe(error)}") from error
    finally:
        conn.close()


async def _explain(error: BaseException, host: str, port: int, options: dict[str, Any], timeout_s: float,
                   cafile_hint: str) -> str:
    protocol = options["security_protocol"]
    address = f"{host}:{port}"
    user, mechanism = options.get("sasl_plain_username"), options.get("sasl_mechanism")
    if isinstance(error, SaslAuthenticationFailed):
        return f"{KAFKA}SASL_PASSWORD: authentication failed for user {user} at {address} ({mechanism})"
    if isinstance(error, UnsupportedSaslMechanismError):
        return f"{KAFKA}SASL_MECHANISM: {address} does not offer {mechanism}"
    if isinstance(error, IllegalSaslStateError):
        return f"{KAFKA}SECURITY_PROTOCOL is {protocol} but {address} speaks PLAINTEXT (no SASL on that listener)"
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = error.verify_message or _describe(error)
        if "mismatch" in reason:
            return f"{KAFKA}BOOTSTRAP_SERVERS: the certificate of {address} is not for host {host} ({reason})"
        return f"{KAFKA}SSL_CAFILE: broker certificate not trusted at {address} ({reason}{cafile_hint})"
    if isinstance(error, ConnectionRefusedError):
        return f"{KAFKA}BOOTSTRAP_SERVERS: no broker answers at {address} (connection refused)"
    uses_tls = protocol in ("SSL", "SASL_SSL")
    if uses_tls and await _speaks_plain_kafka(host, port, timeout_s):
        return f"{KAFKA}SECURITY_PROTOCOL is {protocol} but {address} speaks PLAINTEXT"
    if not uses_tls and await _speaks_tls(host, port, timeout_s):
        return f"{KAFKA}SECURITY_PROTOCOL is {protocol} but {address} speaks TLS (SSL or SASL_SSL)"
    if isinstance(error, TimeoutError):
        return f"{KAFKA}BOOTSTRAP_SERVERS: no answer from {address} within {timeout_s:g} s ({protocol})"
    return f"{KAFKA}BOOTSTRAP_SERVERS: cannot connect to {address} with {protocol}: {_describe(error)}"


async def _speaks_plain_kafka(host: str, port: int, timeout_s: float) -> bool:
    """True when the port answers a Kafka ApiVersions request without TLS."""
    try:
        conn = await asyncio.wait_for(create_conn(host, port, request_timeout_ms=int(timeout_s * 1000)), timeout_s)
    except (KafkaError, OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    conn.close()
    return True


async def _speaks_tls(host: str, port: int, timeout_s: float) -> bool:
    """True when the port completes a TLS handshake (certificate not checked: only the protocol matters here)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def _describe(error: BaseException) -> str:
    text = _first_line(error) or type(error).__name__
    cause = error.__cause__
    return f"{text} ({_first_line(cause) or type(cause).__name__})" if cause is not None else text


def _first_line(error: BaseException | None) -> str:
    lines = str(error or "").strip().splitlines()
    return lines[0] if lines else ""
