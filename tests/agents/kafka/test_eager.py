"""start_eagerly runs a coroutine in the caller's task until it first waits, then as a task, as `await` would."""

from __future__ import annotations

import asyncio

import pytest

from agents.kafka.eager import start_eagerly


async def test_a_coroutine_that_never_waits_is_done_before_the_loop_turns() -> None:
    """No task is made: the body has run and the result is set when start_eagerly returns."""
    ran: list[str] = []

    async def deliver() -> int:
        ran.append("body")
        return 7

    tasks_before = len(asyncio.all_tasks())
    delivery = start_eagerly(deliver())
    assert ran == ["body"]
    assert delivery.done() and delivery.result() == 7
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_coroutine_that_waits_finishes_as_a_task_with_the_awaited_value() -> None:
    """The part before the wait ran at once; the rest runs in a task and receives what it waited for."""
    steps: list[str] = []
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def deliver() -> str:
        steps.append("before")
        value = await ready
        steps.append(f"after {value}")
        await asyncio.sleep(0)  # a bare yield inside the rest
        return value.upper()

    delivery = start_eagerly(deliver())
    assert steps == ["before"] and not delivery.done()
    ready.set_result("room")
    assert await asyncio.wait_for(delivery, 1.0) == "ROOM"
    assert steps == ["before", "after room"]


async def test_cancelling_the_rest_cancels_the_coroutine_where_it_waits() -> None:
    """wait_first cancels the losing delivery: the coroutine sees CancelledError at its wait, and cleans up."""
    cleaned: list[str] = []

    async def deliver() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cleaned.append("cancelled at the wait")
            raise

    delivery = start_eagerly(deliver())
    await asyncio.sleep(0)
    delivery.cancel()
    with pytest.raises(asyncio.CancelledError):
        await delivery
    assert cleaned == ["cancelled at the wait"]


async def test_errors_reach_the_caller_before_and_after_the_first_wait() -> None:
    """An error before the first wait raises at once; one after it fails the task; one caught inside stays there."""

    async def fails_at_once() -> None:
        raise ValueError("bad message")

    with pytest.raises(ValueError, match="bad message"):
        start_eagerly(fails_at_once())

    failing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    caught: list[str] = []

    async def catches_then_fails() -> None:
        try:
            await failing
        except KeyError as error:  # the awaited future's error is delivered into the coroutine
            caught.append(str(error))
        await asyncio.sleep(0)
        raise RuntimeError("after the wait")

    delivery = start_eagerly(catches_then_fails())
    failing.set_exception(KeyError("gone"))
    with pytest.raises(RuntimeError, match="after the wait"):
        await delivery
    assert caught == ["'gone'"]
