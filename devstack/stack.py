"""The local stack: every service the tests and the demo need, started and stopped together."""

from __future__ import annotations

from devstack.kafka import Kafka
from devstack.redis import Redis
from devstack.service import LOG_DIR, Service, ServiceError, Status

__all__ = ["LOG_DIR", "Service", "ServiceError", "Status", "all_services", "start_all", "status_all", "stop_all"]


def all_services() -> list[Service]:
    """Every service the tests and the demo need, in start order."""
    return [Redis(), Kafka()]


def start_all() -> list[str]:
    return [service.start() for service in all_services()]


def stop_all() -> list[str]:
    return [service.stop() for service in reversed(all_services())]


def status_all() -> list[Status]:
    return [service.status() for service in all_services()]
