"""Local Apache Kafka and Redis for development, tests and the demo (no Docker needed).

`service` is the base (a child process with a pid file and a log), `kafka` and `redis` the two services,
`stack` starts and stops them together; `--secure` runs a SASL_SSL Kafka and a password Redis beside them, with
`certificates` making their CA, broker certificate and passwords. Imports nothing of this project outside `devstack/`.
"""

from devstack.stack import Service, ServiceError, all_services, secure_env, start_all, status_all, stop_all

__all__ = ["Service", "ServiceError", "all_services", "secure_env", "start_all", "status_all", "stop_all"]
