"""WorkerProcess, the tests' and the demo's handle on a worker: a worker that will not stop leaves its stacks."""

from __future__ import annotations

import logging
import signal

import pytest

from tests.support import WorkerProcess

pytestmark = pytest.mark.integration


def test_a_worker_that_outlives_its_stop_timeout_logs_its_tasks_and_threads_then_is_killed(
        worker: WorkerProcess, caplog: pytest.LogCaptureFixture) -> None:
    """Past the stop timeout the worker is asked for its asyncio tasks (SIGUSR1) and every thread's stack
    (SIGQUIT, answered even with the loop blocked), killed, and the log tail reaches the test's own log."""
    worker.start()
    assert worker.process is not None
    with caplog.at_level(logging.WARNING):
        worker.stop(sig=signal.SIGCONT, timeout_s=0.5)  # a signal it ignores: it stays up
    assert worker.process.poll() is not None
    log = worker.log_path.read_text(errors="replace")
    assert "thread 0x" in log.lower() and "File " in log  # faulthandler's dump of every thread
    assert "did not stop within" in caplog.text and "thread 0x" in caplog.text.lower()
