"""The set-up every streaming benchmark shares: local services up, settings and topics private to one run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import NewTopic
from rich.console import Console

from agents.kafka.topics import admin_client
from agents.worker_process import PROJECT_ROOT
from devstack import start_all
from devstack.stack import LOG_DIR
from engine.settings import Settings, load_settings_with


@dataclass(frozen=True)
class BenchEnvironment:
    """One benchmark run: its environment variables (for worker processes), settings, and where logs go."""

    run_id: str
    env: dict[str, str]
    settings: Settings

    def log_file(self, name: str) -> Path:
        return LOG_DIR / f"{self.run_id}-{name}.log"

    def delete_topics(self, console: Console) -> None:
        """Delete the run's topics (inputs, outputs, the workers' changelogs): all named after the run id.

        Kept, a day of runs left 4,581 partition folders on the local broker, which then stalled produce
        requests (NotLeaderForPartitionError) in later runs.
        """
        deleted = asyncio.run(delete_topics_named(self.settings, self.run_id))
        console.print(f"deleted this run's {len(deleted)} topic(s)")


def bench_environment(console: Console, kind: str, topics: tuple[str, ...], **settings: str) -> BenchEnvironment:
    """Start Kafka and Redis if needed; app id, Redis prefix, data folder and `topics` named for this run only."""
    for line in start_all():
        console.print(line)
    run_id = f"bench-{kind}-{uuid.uuid4().hex[:6]}"
    env = {"ENGINE_APP_ID": run_id, "ENGINE_REDIS_PREFIX": run_id, "ENGINE_DATA_DIR": str(LOG_DIR.parent / run_id),
           "ENGINE_WORKER_WEB_PORT": str(free_port())}  # never the default 6066 another worker may hold
    for name in topics:
        env[f"ENGINE_TOPICS__{name.upper()}"] = f"{run_id}-{name.replace('_', '-')}"
    env.update(settings)
    return BenchEnvironment(run_id, env, load_settings_with(env))


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank (NaN for no values); shared by the benchmarks."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


_EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 10_000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, below the range outgoing connections draw from.

    A port the kernel gives for a bind to 0 is an ephemeral one, and a client connection can take it as its
    source port before the server it was meant for binds it (seen in CI: a worker's web port "address already
    in use" while Kafka clients opened connections).
    """
    try:
        first_ephemeral = int(_EPHEMERAL_PORTS.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32_768  # Linux's default
    chooser = random.Random()
    for _ in range(200):
        port = chooser.randrange(_LOWEST_PORT, max(first_ephemeral, _LOWEST_PORT + 1_000))
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port on 127.0.0.1 between {_LOWEST_PORT} and {first_ephemeral}")


def faust_baseline(settings: Settings, topic: str, count: int, label: str = "faust-baseline") -> float:
    """Messages per second of a bare Faust agent (benchmarks/faust_baseline.py) copying `count` messages of `topic`."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    result = LOG_DIR / f"{settings.app_id}-{label}.json"
    result.unlink(missing_ok=True)  # a run that writes nothing must not read an older run's figure
    log_path = LOG_DIR / f"{settings.app_id}-{label}.log"
    with log_path.open("wb") as log:
        subprocess.run(_faust_copy_command(), env=_faust_copy_env(settings, topic, count, result), cwd=PROJECT_ROOT,
                       stdout=log, stderr=subprocess.STDOUT, timeout=1800, check=False)
    if not result.is_file():
        raise RuntimeError(f"the Faust baseline wrote no result; see {log_path}")
    return float(json.loads(result.read_text())["tx_s"])


@contextlib.contextmanager
def faust_copy_running(settings: Settings, topic: str, label: str = "faust-copy") -> Iterator[Path]:
    """The same bare Faust agent copying `topic` to `topic`-faust-copy until the block ends; yields its log."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{settings.app_id}-{label}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(_faust_copy_command(), env=_faust_copy_env(settings, topic, 0, None),
                                   cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield log_path
        finally:
            process.kill()  # a baseline: nothing of it is kept but what the caller measured
            process.wait(timeout=30)


def _faust_copy_command() -> list[str]:
    return [sys.executable, "-m", "benchmarks.faust_baseline", "worker", "-l", "warn"]


def _faust_copy_env(settings: Settings, topic: str, count: int, result: Path | None) -> dict[str, str]:
    return {**os.environ, "BASELINE_TOPIC": topic, "BASELINE_COUNT": str(count),
            "BASELINE_RESULT": str(result or os.devnull), "BASELINE_BROKER": settings.kafka.faust_broker,
            "BASELINE_WEB_PORT": str(free_port())}


async def delete_topics_named(settings: Settings, prefix: str) -> list[str]:
    """Delete every topic whose name starts with `prefix`; returns their names."""
    admin = admin_client(settings)
    await admin.start()
    try:
        names = sorted(name for name in await admin.list_topics() if name.startswith(prefix))
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


async def create_topic(settings: Settings, name: str) -> None:
    """A scratch topic with the engine's partition count (a baseline's own input or output)."""
    admin = admin_client(settings)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, settings.topics.partitions, 1)])
    finally:
        await admin.close()
