"""The page's event stream over real HTTP (aiohttp on 127.0.0.1, no Kafka): the board first, then each change."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web

from agents.dashboard.page import DispatchPage
from agents.dashboard.page_html import PAGE_HTML
from engine.settings import load_settings_with
from tests.engine.routes.test_plan_drawing import sample_plan


async def next_event(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The data of the next `board` event on the stream (comments and retry lines skipped)."""
    name = None
    for _ in range(50):
        line = (await asyncio.wait_for(response.content.readline(), 10)).decode().rstrip("\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name == "board":
            data: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return data
    raise AssertionError("no board event in 50 lines")


async def test_stream_sends_the_board_then_a_new_plan_and_ends_on_close() -> None:
    """A client gets the (empty) board at once, the fleet as soon as its plan arrives, and the stream ends when
    the page closes (the worker stopping) instead of holding the shutdown."""
    settings = load_settings_with({})
    page = DispatchPage(settings)
    app = web.Application()
    app.router.add_get("/dispatch/events", page.events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/dispatch/events") as r:
            assert r.headers["Content-Type"] == "text/event-stream"
            first = await next_event(r)
            assert first["shown"] == [] and first["fraud"] == {"version": 0, "alerts": [], "reviews": []}
            plan, _, _ = sample_plan()
            page.board.take(settings.topics.routes, plan.to_bytes())
            second = await next_event(r)
            assert second["shown"] == ["fleet-d"] and second["fraud"] is None
            assert second["fleets"]["fleet-d"]["plan"]["plan_id"] == plan.plan_id
            page.close()
            rest = await asyncio.wait_for(r.content.read(), 5)
            assert b"event: board" not in rest
    finally:
        await runner.cleanup()


def test_page_has_no_external_asset() -> None:
    """The page's HTML, CSS and JS are inline: nothing is fetched from another origin."""
    assert "src=" not in PAGE_HTML and "href=" not in PAGE_HTML and "@import" not in PAGE_HTML
    assert 'new EventSource("/dispatch/events")' in PAGE_HTML
