"""Tests of SharedModel: the worker's one language model, asked by one request at a time."""

from __future__ import annotations

import asyncio
import time

from agents.llm.worker_model import SharedModel
from engine.llm.language_model import Completion


class EchoModel:
    """A LanguageModel stand-in: the agents only need an object to hand to the calls."""

    def complete_json(self, prompt: str, json_schema: dict[str, object], *, max_tokens: int) -> Completion:
        return Completion(prompt, 0, 0, 0.0, "echo")


def slow(seconds: float, value: str) -> str:
    time.sleep(seconds)
    return value


async def test_a_second_request_waits_for_the_first_within_its_deadline() -> None:
    """The fraud review asking while a fleet's request runs waits its turn instead of being skipped."""
    shared = SharedModel(EchoModel())
    first = asyncio.ensure_future(shared.ask(lambda: slow(0.3, "route"), 2.0))
    await asyncio.sleep(0.05)
    second = await shared.ask(lambda: slow(0.1, "review"), 2.0)
    assert (await first).value == "route"
    assert second.status == "answered" and second.value == "review"


async def test_a_hung_request_leaves_the_others_busy_not_queued() -> None:
    """Behind a request that outlasts their deadline, later requests return busy; the late answer is delivered."""
    shared = SharedModel(EchoModel())
    delivered: list[str] = []
    first = await shared.ask(lambda: slow(0.6, "hung"), 0.1, delivered.append)
    assert first.status == "late"
    started = time.monotonic()
    second = await shared.ask(lambda: "never runs", 0.2)
    assert second.status == "busy" and time.monotonic() - started < 0.5
    await asyncio.sleep(0.7)
    assert delivered == ["hung"]
    assert (await shared.ask(lambda: "free again", 1.0)).value == "free again"
