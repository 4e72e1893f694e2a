"""The benchmark and test environment: ports for local servers."""

from __future__ import annotations

import socket
from pathlib import Path

from benchmarks.environment import free_port


def test_free_ports_are_bindable_and_below_the_ephemeral_range() -> None:
    """Outgoing connections take their source ports from the ephemeral range, so a server port chosen there could
    be taken before the server binds it (a worker's web port was "already in use" in CI): ports come from below."""
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert all(10_000 <= port < first_ephemeral for port in ports)
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # nothing listens there
