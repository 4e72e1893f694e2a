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


def every_cycle(app: faust.App, name: str, seconds: float, tick: Callable[[], Awaitable[Any]]) -> BackgroundTicks:
    """Register timer `name`: every `seconds`, start `tick` in the background.

    Faust sleeps `interval` after the timer returns, so awaiting a long tick would stretch the cadence;
    a tick that overruns must guard itself against overlapping with the next one.
    """
    ticks = BackgroundTicks(tick)

    @app.timer(interval=seconds, name=name)  # type: ignore[untyped-decorator]
    async def start_tick() -> None:
        ticks.start()

    return ticks
