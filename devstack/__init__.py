"""Local Apache Kafka and Redis for development, tests and the demo (no Docker needed)."""

from devstack.stack import Service, ServiceError, all_services, start_all, status_all, stop_all

__all__ = ["Service", "ServiceError", "all_services", "start_all", "status_all", "stop_all"]
