"""The endpoints hit hardest, served past FastAPI's router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from memwatch.consolidator.api.rejections import Rejected, answer_rejected
from memwatch.consolidator.api.state import AppState, app_state

Endpoint = Callable[[Request, AppState], Awaitable[Response]]


class HotPaths:
    """ASGI middleware that serves the endpoints hit hardest (Alertmanager's deliveries,
    health probes) by calling their endpoint functions, the ones FastAPI routes to, at
    once: without the router, dependency solving and the exception middleware, about a
    third of a delivery's CPU under load (docs/benchmarks.md). Only an exact method and
    path; anything else (another method, a trailing slash) goes to FastAPI as before, and
    the routes stay declared there for the OpenAPI document."""

    def __init__(self, app: ASGIApp, endpoints: dict[tuple[str, str], Endpoint]) -> None:
        self.app, self.endpoints = app, endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints.get((scope.get("method", ""), scope.get("path", ""))) \
            if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request, app_state(request))
        except Rejected as exc:
            response = await answer_rejected(request, exc)
        await response(scope, receive, send)
