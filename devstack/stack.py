"""The local stack: every service the tests and the demo need, started and stopped together."""

from __future__ import annotations

from devstack.kafka import Kafka, SecureKafka
from devstack.redis import Redis, SecureRedis
from devstack.service import LOG_DIR, SECURE_STATE_DIR, Service, ServiceError, Status

__all__ = ["LOG_DIR", "SECURE_STATE_DIR", "Service", "ServiceError", "Status", "all_services", "secure_env",
           "start_all", "status_all", "stop_all"]


def all_services(secure: bool = False) -> list[Service]:
    """Every service the tests and the demo need, in start order (secure: the SASL_SSL/password pair instead)."""
    if secure:
        return [SecureRedis(), SecureKafka()]
    return [Redis(), Kafka()]


def start_all(secure: bool = False) -> list[str]:
    return [service.start() for service in all_services(secure)]


def stop_all(secure: bool = False) -> list[str]:
    return [service.stop() for service in reversed(all_services(secure))]


def status_all(secure: bool = False) -> list[Status]:
    return [service.status() for service in all_services(secure)]


def secure_env() -> dict[str, str]:
    """The ENGINE_* settings that point a worker at the secured stack (credentials included)."""
    return {**SecureKafka().client_env(), **SecureRedis().client_env()}
