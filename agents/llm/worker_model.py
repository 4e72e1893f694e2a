"""SharedModel: the worker's one language model, opened once (open_worker_model) and shared by every agent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import faust

from agents.llm.answer_store import RedisAnswerCache
from engine.llm.context import context_tokens
from engine.llm.factory import open_cached_model, open_language_model
from engine.llm.language_model import LanguageModel
from engine.llm.openai_model import api_base
from engine.settings import Settings

log = logging.getLogger(__name__)


def open_worker_model(app: faust.App, settings: Settings, users: list[str]) -> SharedModel:
    """The configured model, opened now (fail fast), behind the Redis answer cache unless that is switched off.

    One copy per worker: the route cycle and the fraud review share it, and the model's own lock
    serialises their requests (two copies would compete for the same cores and memory).
    """
    llm = settings.llm
    where = api_base(str(llm.base_url)) if llm.backend == "openai" else llm.model_path
    if not llm.answer_cache:
        model = open_language_model(llm)
    else:
        cache = RedisAnswerCache(str(settings.redis_url), settings.redis_prefix, llm.answer_cache_ttl_s)
        cached = open_cached_model(llm, cache)
        cached.open()
        model = cached
    n_ctx = context_tokens(model)  # the HTTP backend asks its server now, not in the first cycle
    opened = (f"language model opened once for this worker: {llm.backend} {where}, context {n_ctx} tokens "
              f"(used by {' and '.join(users)})")

    @app.task  # type: ignore[untyped-decorator]
    async def announce_model() -> None:
        log.info(opened)  # at start-up: Faust sets up the worker's logging only when it starts

    return SharedModel(model)


T = TypeVar("T")
TurnStatus = Literal["answered", "busy", "late"]


@dataclass(frozen=True)
class Turn(Generic[T]):
    """How one request for the shared model went: its value when answered in time."""

    status: TurnStatus
    value: T | None = None


class SharedModel:
    """The worker's one model, asked by one request at a time; a late request keeps running in its thread."""

    def __init__(self, model: LanguageModel) -> None:
        self.model = model
        self._running: asyncio.Future[Any] | None = None

    @property
    def busy(self) -> bool:
        return self._running is not None and not self._running.done()

    async def ask(self, call: Callable[[], T], deadline_s: float,
                  on_late: Callable[[T], None] | None = None) -> Turn[T]:
        """Run call (which asks self.model) in a thread, all within deadline_s: waiting for another agent's
        request first if one is running (busy when it outlasts the deadline: a hung request never piles up).

        A request that misses its deadline is not cancelled (a thread cannot be): its result goes to
        `on_late` when it arrives, and the model stays busy until then.
        """
        loop = asyncio.get_running_loop()
        ends = loop.time() + deadline_s
        while self._running is not None and not self._running.done():
            remaining = ends - loop.time()
            if remaining <= 0:
                return Turn("busy")
            with contextlib.suppress(Exception):  # the other request's failure or lateness is its own
                await asyncio.wait_for(asyncio.shield(self._running), timeout=remaining)
            if self.busy:
                return Turn("busy")
        task: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(call))
        self._running = task
        try:
            return Turn("answered", await asyncio.wait_for(asyncio.shield(task), timeout=max(ends - loop.time(),
                                                                                          0.0)))
        except TimeoutError:
            if on_late is not None:
                late = on_late

                def deliver(done: asyncio.Future[T]) -> None:
                    if not done.cancelled() and done.exception() is None:
                        late(done.result())

                task.add_done_callback(deliver)
            return Turn("late")
