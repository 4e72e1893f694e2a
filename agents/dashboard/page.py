"""The dispatch page on the worker's own web port (Faust's aiohttp server, 127.0.0.1): read-only views.

GET /dispatch              the page (HTML, CSS and JS inline)
GET /dispatch/events       server-sent events: what changed, as JSON, whenever the board moves
GET /dispatch/board.json   everything the page shows, at once
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import faust
from aiohttp import web as aiohttp_web

from agents.dashboard.board import Board, Sent
from agents.dashboard.feed import BoardFeed
from agents.dashboard.page_html import PAGE_HTML
from engine.settings import Settings

STREAM_S = 30.0  # one event stream's life: the browser reconnects at once (retry below), so none is held forever
KEEPALIVE_S = 10.0
MIN_GAP_S = 0.25  # bursts of records (a cycle's plans and decisions) go out as one event


class DispatchPage:
    """The board, its feed, and the HTTP handlers that read it."""

    def __init__(self, settings: Settings) -> None:
        self.board = Board(settings.topics)
        self.feed = BoardFeed(settings, self.board)
        self.closing = asyncio.Event()

    async def events(self, request: Any) -> aiohttp_web.StreamResponse:
        """One event stream: the full board first, then each change, for at most STREAM_S."""
        response = aiohttp_web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                                       "Cache-Control": "no-cache"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        ends, sent = loop.time() + STREAM_S, Sent()
        with contextlib.suppress(ConnectionError):  # the tab was closed: nothing to clean up
            await response.write(b"retry: 1000\n\n")
            while not self.closing.is_set() and (left := ends - loop.time()) > 0:
                changes = self.board.changes(sent)
                if changes is not None:
                    await response.write(f"event: board\ndata: {json.dumps(changes)}\n\n".encode())
                seen = self.board.version
                if not await self.board.wait_change(seen, min(KEEPALIVE_S, left)):
                    await response.write(b": keepalive\n\n")
                await asyncio.sleep(MIN_GAP_S)
        return response

    def close(self) -> None:
        """End every open event stream now (the worker is stopping)."""
        self.closing.set()
        self.board.wake()


def install_dispatch_page(app: faust.App, settings: Settings) -> DispatchPage:
    """Serve the page on the worker's web port and follow its topics in a task of the app."""
    page = DispatchPage(settings)

    @app.task  # type: ignore[untyped-decorator]
    async def follow_dispatch_topics() -> None:
        await page.feed.run()

    @app.page("/dispatch", name="dispatch-page")
    async def dispatch_page(web: Any, request: Any) -> Any:
        return web.html(PAGE_HTML)

    @app.page("/dispatch/board.json", name="dispatch-board")
    async def dispatch_board(web: Any, request: Any) -> Any:
        return web.json(page.board.snapshot())

    @app.page("/dispatch/events", name="dispatch-events")
    async def dispatch_events(web: Any, request: Any) -> Any:
        return await page.events(request)

    async def end_streams(_: Any) -> None:
        page.close()  # else aiohttp's shutdown waits for open streams

    app.web.web_app.on_shutdown.append(end_streams)  # type: ignore[attr-defined]
    return page
