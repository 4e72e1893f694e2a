"""WorkerProcess: `python -m agents worker` as a child process (used by the demo and the tests)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_MARKER = "[^Worker]: Ready"


class WorkerProcess:
    """Starts a worker with extra environment, waits until Faust says Ready, stops it with a signal."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout_s: float = 90.0) -> None:
        self.starts += 1
        marker = f"===== worker start {self.starts} (pid of parent {os.getpid()}) ====="
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n{marker}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agents", "worker"],
                cwd=PROJECT_ROOT,
                env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
            if READY_MARKER in self.log_path.read_text(errors="replace").split(marker)[-1]:
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout_s} s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> int | None:
        """Signal the worker and wait; SIGTERM lets Faust commit offsets and flush its changelog."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._dump_stacks()
                self.process.kill()
                self.process.wait()
                logging.getLogger(__name__).warning(
                    "worker %d did not stop within %g s; killed. Its log ends:\n%s",
                    self.process.pid, timeout_s, self.log_tail(2000))
        return self.process.returncode

    def _dump_stacks(self) -> None:
        """Ask a hung worker where it is: its asyncio tasks (SIGUSR1, needs the loop), then every thread (SIGQUIT)."""
        assert self.process is not None
        for sig in (signal.SIGUSR1, signal.SIGQUIT):
            if self.process.poll() is None:
                self.process.send_signal(sig)
                time.sleep(2.0)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
