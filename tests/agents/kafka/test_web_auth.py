"""Tests of the bearer-token guard on a tiny Faust page served over real HTTP on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import faust
import pytest
from aiohttp.test_utils import TestClient, TestServer
from faust.web import Request, Response, View
from pydantic import SecretStr

from agents.kafka.web_auth import requires_token, token_problem
from engine.settings import SettingsError, load_settings_with

TOKEN = SecretStr("s3cret-token-for-tests-only")


def tiny_app(token: SecretStr | None) -> tuple[faust.App, list[str]]:
    """A Faust app with one page: GET reads (open), POST changes state (guarded); returns the changes made."""
    app = faust.App("web-auth-test", broker="memory://", web_enabled=True, autodiscover=False)
    changes: list[str] = []

    @app.page("/dispatch")
    class Dispatch(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.json({"changes": len(changes)})

        @requires_token(token)
        async def post(self, request: Request, **kwargs: Any) -> Response:
            changes.append("dispatched")
            return self.json({"ok": True})

    return app, changes


async def call(app: faust.App, method: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    client = TestClient(TestServer(app.web.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        response = await client.request(method, "/dispatch", headers=headers or {})
        return response.status, await response.json()
    finally:
        await client.close()


async def test_right_token_changes_state() -> None:
    """A POST with `Authorization: Bearer <ENGINE_HTTP_TOKEN>` runs the handler."""
    app, changes = tiny_app(TOKEN)
    status, body = await call(app, "POST", {"Authorization": f"Bearer {TOKEN.get_secret_value()}"})
    assert (status, body, changes) == (200, {"ok": True}, ["dispatched"])


async def test_missing_token_is_401() -> None:
    """A POST without a token answers 401 with a Bearer challenge and changes nothing."""
    app, changes = tiny_app(TOKEN)
    client = TestClient(TestServer(app.web.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        response = await client.post("/dispatch")
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "ENGINE_HTTP_TOKEN" in (await response.json())["error"]
    finally:
        await client.close()
    assert changes == []


async def test_wrong_token_is_401() -> None:
    """A POST with another token, or another scheme, answers 401 and changes nothing."""
    app, changes = tiny_app(TOKEN)
    for header in ("Bearer not-the-token", f"Basic {TOKEN.get_secret_value()}", "Bearer "):
        status, body = await call(app, "POST", {"Authorization": header})
        assert status == 401, header
        assert "ENGINE_HTTP_TOKEN" in body["error"]
    assert changes == []


async def test_unset_token_turns_writes_off() -> None:
    """With ENGINE_HTTP_TOKEN unset no request may change state, whatever it sends."""
    app, changes = tiny_app(None)
    status, body = await call(app, "POST", {"Authorization": "Bearer anything-at-all-here"})
    assert status == 401
    assert "ENGINE_HTTP_TOKEN is not set" in body["error"]
    assert changes == []


async def test_reads_stay_open() -> None:
    """GET on the same page needs no token (read-only endpoints stay open)."""
    app, _ = tiny_app(TOKEN)
    assert await call(app, "GET") == (200, {"changes": 0})


def test_token_problem_messages() -> None:
    """token_problem() accepts only the exact token and names the setting otherwise."""
    assert token_problem(TOKEN, f"Bearer {TOKEN.get_secret_value()}") is None
    assert token_problem(TOKEN, f"bearer  {TOKEN.get_secret_value()}") is None  # scheme is case-insensitive
    for header in (None, "", "Bearer", "Bearer x", TOKEN.get_secret_value()):
        problem = token_problem(TOKEN, header)
        assert problem is not None and "ENGINE_HTTP_TOKEN" in problem, header


def test_http_token_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """ENGINE_HTTP_TOKEN is read as a secret (never shown in repr) and a short one is refused, naming the setting."""
    settings = load_settings_with({"ENGINE_HTTP_TOKEN": TOKEN.get_secret_value()})
    assert settings.http_token == TOKEN
    assert TOKEN.get_secret_value() not in repr(settings)
    monkeypatch.delenv("ENGINE_HTTP_TOKEN", raising=False)
    assert load_settings_with({}).http_token is None  # unset by default: state-changing endpoints are off
    with pytest.raises(SettingsError, match=r"ENGINE_HTTP_TOKEN: .*at least 16 characters"):
        load_settings_with({"ENGINE_HTTP_TOKEN": "short"})
