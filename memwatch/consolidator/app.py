"""The consolidator's HTTP API, assembled from the routers of consolidator.api.

FastAPI on uvicorn: a maintained ASGI framework whose OpenAPI document comes from the same
pydantic models that validate the requests, so the published schema cannot drift from the
code.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from memwatch.consolidator.api import health, history, knowledge, page, persistence, webhook
from memwatch.consolidator.api.hot_paths import HotPaths
from memwatch.consolidator.api.rejections import Rejected, answer_rejected
from memwatch.consolidator.api.state import AppState
from memwatch.consolidator.ingest_queue import IngestQueue
from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.models import KnowledgeQuery
from memwatch.consolidator.payload import WebhookPayload
from memwatch.consolidator.responses import Responder
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.consolidator.storage.base import Repository
from memwatch.consolidator.views import StorageWatch, Views

API_VERSION = "1"  # the REST API's version (docs/consolidator.openapi.json), not the package's
# The bodies read by guards.read_body (not FastAPI body parameters): their schemas are added
# to the document's components, where the routes' json_body refers to them.
BODY_MODELS: tuple[type[BaseModel], ...] = (WebhookPayload, KnowledgeQuery)
ROUTERS = tuple(routes.router for routes in (
    webhook, health, knowledge, persistence, page, history))


def create_app(repo: Repository, *, max_body_bytes: int = 1024 * 1024,
               bearer_token: str | Callable[[], str | None] | None = None,
               metrics: ConsolidatorMetrics | None = None,
               knowledge: KnowledgeBase | None = None,
               responder: Responder | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    """`clock`: "now" for the page and the historical answer (tests set it);
    `bearer_token`: the token, or what reads the current one (a reload swaps it)."""
    kb = knowledge or KnowledgeBase()
    state = AppState(
        repo=repo, metrics=metrics or ConsolidatorMetrics(), knowledge=kb,
        views=Views(repo, kb, clock=clock), watch=StorageWatch(repo),
        deliveries=IngestQueue(repo.ingest_batch), responder=responder,
        max_body_bytes=max_body_bytes,
        bearer_token=bearer_token if callable(bearer_token) else lambda: bearer_token)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(state.watch.start)
        try:
            yield
        finally:
            await run_in_threadpool(state.watch.stop)

    app = FastAPI(title="memwatch consolidator", version=API_VERSION, lifespan=lifespan,
                  description="Alert history and knowledge for AI-agent memory stores.")
    app.state.consolidator = state
    for router in ROUTERS:
        app.include_router(router)
    app.exception_handler(Rejected)(answer_rejected)
    _document_bodies(app)
    app.add_middleware(HotPaths, endpoints={("POST", "/webhook/alerts"): webhook.webhook,
                                            ("GET", "/health"): _health})
    return app


async def _health(request: Request, state: AppState) -> Response:
    return await health.health(state)


def _document_bodies(app: FastAPI) -> None:
    """Add BODY_MODELS' schemas (and those they refer to) to the OpenAPI document."""
    schemas: dict[str, Any] = {}
    for model in BODY_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            build_openapi().setdefault("components", {}).setdefault(
                "schemas", {}).update(schemas)
        return app.openapi_schema or build_openapi()

    app.openapi = openapi  # type: ignore[method-assign]
