"""Redis from Debian's redis-server package on 127.0.0.1:6379."""

from __future__ import annotations

import os
import shutil

from devstack.service import STATE_DIR, Service, ServiceError


class Redis(Service):
    """A single redis-server; state is derived from Kafka, so nothing is persisted."""

    name = "redis"
    start_timeout_s = 20.0

    def __init__(self) -> None:
        self.port = int(os.environ.get("DEVSTACK_REDIS_PORT", "6379"))
        self.data_dir = STATE_DIR / "redis"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        # Debian puts it in /usr/bin; a PATH without /usr/bin (some CI shells) must still find it.
        server = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
        if server is None:
            raise ServiceError("redis: redis-server is not installed (Debian: apt-get install redis-server)")
        return [
            server,
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]

    def healthy(self) -> bool:
        import redis

        client = redis.Redis(host=self.host, port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()
