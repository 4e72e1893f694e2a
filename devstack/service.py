"""Service: one local server as a child process with a pid file and a log file (the base Kafka and Redis share)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("DEVSTACK_HOME", PROJECT_ROOT / ".devstack"))
LOG_DIR = STATE_DIR / "logs"
# The secured stack (SASL_SSL Kafka, password Redis) keeps its pid files, logs, data and secrets apart.
SECURE_STATE_DIR = STATE_DIR / "secure"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "decision-engine"


class ServiceError(RuntimeError):
    """A local service could not be started, checked or stopped; the message says why."""


@dataclass(frozen=True)
class Status:
    """What a service looks like right now."""

    name: str
    address: str
    healthy: bool
    pid: int | None
    log_file: Path


class Service(ABC):
    """One local server process managed through a pid file in STATE_DIR."""

    name: str
    host = "127.0.0.1"
    port: int
    start_timeout_s = 90.0
    state_dir: Path = STATE_DIR

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @abstractmethod
    def healthy(self) -> bool:
        """True when the service answers a real protocol request."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the server in the foreground."""

    def prepare(self) -> None:  # noqa: B027 - optional hook, most services need nothing
        """Create data folders, config files and caches before the first start."""

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def pid(self) -> int | None:
        """The pid of the process this stack started, if it is still alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        if _is_zombie(pid):
            return None
        return pid

    def status(self) -> Status:
        return Status(self.name, self.address, self.healthy(), self.pid(), self.log_file)

    def start(self) -> str:
        """Start the service unless it already answers; wait until it is healthy."""
        if self.healthy():
            owner = "this stack" if self.pid() else "another process"
            return f"{self.name}: already running on {self.address} (started by {owner})"
        if self.pid() is None:
            if port_open(self.host, self.port):
                raise ServiceError(
                    f"{self.name}: port {self.address} is taken by a process that does not answer "
                    f"like {self.name}; stop it or free the port"
                )
            self.prepare()
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("ab") as log:
                log.write(f"\n=== devstack start {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
                log.flush()
                process = subprocess.Popen(
                    self.command(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env(),
                    start_new_session=True,  # survives the shell that started it
                )
            self.pid_file.write_text(str(process.pid))
        self._wait_healthy()
        return f"{self.name}: started on {self.address} (pid {self.pid()}, log {self.log_file})"

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.healthy():
                return
            if self.pid() is None:
                raise ServiceError(
                    f"{self.name}: process exited during start-up; last log lines:\n{self.log_tail()}"
                )
            time.sleep(0.5)
        raise ServiceError(
            f"{self.name}: not healthy after {self.start_timeout_s:.0f} s; last log lines:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 30.0) -> str:
        """Stop the process this stack started (SIGTERM, then SIGKILL after timeout_s)."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return f"{self.name}: not running under this stack"
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.pid() is not None:
            os.killpg(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return f"{self.name}: stopped (pid {pid})"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log yet)"


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
