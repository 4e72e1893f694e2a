"""every_cycle: a Faust timer that starts a tick at a fixed cadence without waiting for it to finish."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import faust


class BackgroundTicks:
    """Ticks started in the background; kept referenced so the event loop does not drop them mid-run."""

    def __init__(self, tick: Callable[[], Awaitable[Any]]) -> None:
        self.tick = tick
        self.running: set[asyncio.Future[Any]] = set()

    def start(self) -> None:
        task = asyncio.ensure_future(self.tick())
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def drain(self, timeout_s: float) -> None:
        """Wait up to timeout_s for running ticks, so a graceful stop publishes the cycle it is in."""
        if self.running:
            await asyncio.wait(set(self.running), timeout=timeout_s)


def every_cycle(app: faust.App, name: str, seconds: float, tick: Callable[[], Awaitable[Any]]) -> BackgroundTicks:
    """Register timer `name`: every `seconds`, start `tick` in the background.

    Faust sleeps `interval` after the timer returns, so awaiting a long tick would stretch the cadence;
    a tick that overruns must guard itself against overlapping with the next one.
    """
    ticks = BackgroundTicks(tick)

    @app.timer(interval=seconds, name=name)  # type: ignore[untyped-decorator]
    async def start_tick() -> None:
        ticks.start()

    # Faust stops the consumer, sends on_before_shutdown, then stops the producer: finish the ticks in between.
    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's stub wants a sync-or-Awaitable union
    async def finish_ticks(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        await ticks.drain(seconds)

    return ticks
