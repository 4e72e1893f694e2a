"""Redis from Debian's redis-server package on 127.0.0.1:6379 (and a password-protected one on 6380)."""

from __future__ import annotations

import os
import shutil

from devstack.certificates import Credentials, credentials_file, ensure_credentials, write_private
from devstack.service import SECURE_STATE_DIR, STATE_DIR, Service, ServiceError


class Redis(Service):
    """A single redis-server; state is derived from Kafka, so nothing is persisted."""

    name = "redis"
    start_timeout_s = 20.0

    def __init__(self) -> None:
        self.state_dir = STATE_DIR
        self.port = int(os.environ.get("DEVSTACK_REDIS_PORT", "6379"))
        self.data_dir = STATE_DIR / "redis"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def server(self) -> str:
        # Debian puts it in /usr/bin; a PATH without /usr/bin (some CI shells) must still find it.
        server = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
        if server is None:
            raise ServiceError("redis: redis-server is not installed (Debian: apt-get install redis-server)")
        return server

    def command(self) -> list[str]:
        return [self.server(), *self.options()]

    def options(self) -> list[str]:
        return [
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]

    def client_password(self) -> tuple[str | None, str | None]:
        """(username, password) that healthy() logs in with; none for the open server."""
        return None, None

    def healthy(self) -> bool:
        import redis

        username, password = self.client_password()
        client = redis.Redis(host=self.host, port=self.port, username=username, password=password,
                             socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


class SecureRedis(Redis):
    """A second redis-server on 6380 that only the ACL user `engine` (with its generated password) may use."""

    def __init__(self) -> None:
        self.state_dir = SECURE_STATE_DIR
        self.port = int(os.environ.get("DEVSTACK_SECURE_REDIS_PORT", "6380"))
        self.data_dir = self.state_dir / "redis"
        self.config_file = self.state_dir / "redis.conf"

    @property
    def credentials(self) -> Credentials:
        return ensure_credentials(self.state_dir)

    def prepare(self) -> None:
        super().prepare()
        creds = self.credentials
        # In a 0600 file, not on the command line, where `ps` would show the password.
        write_private(self.config_file, "\n".join([
            f"user {creds.redis_user} on >{creds.redis_password} ~* &* +@all",
            "user default off",
            "",
        ]))

    def command(self) -> list[str]:
        return [self.server(), str(self.config_file), *self.options()]

    def client_password(self) -> tuple[str | None, str | None]:
        if not credentials_file(self.state_dir).is_file():
            return None, None  # never started here: status must not create passwords, and PING will be refused
        creds = self.credentials
        return creds.redis_user, creds.redis_password

    def client_env(self) -> dict[str, str]:
        """The settings a worker needs to reach this server."""
        creds = self.credentials
        return {"ENGINE_REDIS_URL": f"redis://{creds.redis_user}:{creds.redis_password}@{self.address}/0"}
