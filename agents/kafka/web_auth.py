"""Bearer-token guard for the worker's state-changing HTTP endpoints; read-only pages (/metrics, status) stay open."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar, cast

from faust.web import Request, Response, View
from pydantic import SecretStr

TOKEN_SETTING = "ENGINE_HTTP_TOKEN"
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def token_problem(token: SecretStr | None, authorization: str | None) -> str | None:
    """Why a request with this Authorization header may not change state; None when it may."""
    if token is None:
        return f"{TOKEN_SETTING} is not set on this worker, so endpoints that change state are off"
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return f"this endpoint changes state: send Authorization: Bearer <{TOKEN_SETTING}>"
    # Constant time: the answer must not reveal how many leading characters were right.
    if not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        return f"wrong bearer token (it must equal {TOKEN_SETTING})"
    return None


def requires_token(token: SecretStr | None) -> Callable[[Handler], Handler]:
    """Decorate a Faust view method (post/put/patch/delete): without the right bearer token it answers 401."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(view: View, request: Request, *args: Any, **kwargs: Any) -> Any:
            problem = token_problem(token, request.headers.get("Authorization"))
            if problem is not None:
                unauthorized: Response = view.error(
                    401, problem, headers={"WWW-Authenticate": 'Bearer realm="decision-engine"'})
                return unauthorized
            return await handler(view, request, *args, **kwargs)

        return cast(Handler, guarded)

    return decorate
