"""The consolidator's HTTP API.

FastAPI on uvicorn: a maintained ASGI framework whose OpenAPI document comes from the same
pydantic models that validate the requests, so the published schema cannot drift from the
code. Request bodies are read as a stream and refused past max_body_bytes, so a huge or
endless body is never held in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from memwatch import __version__
from memwatch.consolidator.ingest_queue import IngestQueue
from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.metrics import ConsolidatorMetrics
from memwatch.consolidator.models import (
    AlertModel,
    AllTrends,
    ArchivedSeriesModel,
    DailyModel,
    Health,
    Historical,
    KnowledgeExport,
    KnowledgeQuery,
    KnowledgeResults,
    KnowledgeSummary,
    PersistenceExport,
    PersistenceHealth,
    Problem,
    ResponseRunModel,
    Trends,
    WebhookAnswer,
)
from memwatch.consolidator.payload import WebhookPayload
from memwatch.consolidator.report import report_for
from memwatch.consolidator.repository import AlertRecord, Repository
from memwatch.consolidator.responses import Responder
from memwatch.consolidator.views import StorageWatch, Views, trend_day

log = logging.getLogger("memwatch.consolidator")
# A delivery's longest wait for the storage before a 503 (Alertmanager retries it):
# a hung database server must not hold Alertmanager's connection for ever.
STORAGE_WAIT_SECONDS = 10.0
API_VERSION = "1"  # the REST API's version (docs/consolidator.openapi.json), not the package's


class Rejected(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


def _problems(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


Endpoint = Callable[[Request], Awaitable[Response]]


class HotPaths:
    """ASGI middleware that serves the endpoints hit hardest (Alertmanager's deliveries,
    health probes) by calling their endpoint functions, the ones FastAPI routes to, at
    once: without the router, dependency solving and the exception middleware, about a
    third of a delivery's CPU under load (docs/benchmarks.md). Only an exact method and
    path; anything else (another method, a trailing slash) goes to FastAPI as before, and
    the routes stay declared there for the OpenAPI document."""

    def __init__(self, app: ASGIApp, endpoints: dict[tuple[str, str], Endpoint],
                 rejected: Callable[[Request, Rejected], Awaitable[Response]]) -> None:
        self.app, self.endpoints, self.rejected = app, endpoints, rejected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints.get((scope.get("method", ""), scope.get("path", ""))) \
            if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Rejected as exc:
            response = await self.rejected(request, exc)
        await response(scope, receive, send)


def create_app(repo: Repository, *, max_body_bytes: int = 1024 * 1024,
               bearer_token: str | Callable[[], str | None] | None = None,
               metrics: ConsolidatorMetrics | None = None,
               knowledge: KnowledgeBase | None = None,
               responder: Responder | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    """`clock`: "now" for the page and the historical answer (tests set it);
    `bearer_token`: the token, or what reads the current one (a reload swaps it)."""
    m = metrics or ConsolidatorMetrics()
    kb = knowledge or KnowledgeBase()
    views, watch = Views(repo, kb, clock=clock), StorageWatch(repo)
    deliveries = IngestQueue(repo.ingest_batch)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(watch.start)
        try:
            yield
        finally:
            await run_in_threadpool(watch.stop)

    app = FastAPI(title="memwatch consolidator", version=API_VERSION, lifespan=lifespan,
                  description="Alert history and knowledge for AI-agent memory stores.")
    app.state.metrics = m
    problem = {"model": Problem}

    current_token = bearer_token if callable(bearer_token) else lambda: bearer_token

    def check_token(request: Request) -> None:
        expected = current_token()
        if expected is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), expected.encode()):
            raise Rejected(401, "unauthorized", "a valid bearer token is required")

    async def read_body(request: Request) -> bytes:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise Rejected(415, "content_type", f"expected application/json, got {ctype!r}")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise Rejected(413, "too_large", f"body over {max_body_bytes} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise Rejected(413, "too_large", f"body over {max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    @app.exception_handler(Rejected)
    async def rejected(request: Request, exc: Rejected) -> Response:
        m.rejected.labels(exc.reason).inc()
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        # A refused body may still be arriving: close the connection rather than drain it.
        if exc.status == 413:
            headers = {"Connection": "close"}
        return JSONResponse({"error": exc.reason, "detail": exc.detail},
                            status_code=exc.status, headers=headers)

    # The body is read as a bounded stream (not a FastAPI body parameter), so its schema is
    # declared here and its definitions added to the document's components below.
    body_schema = WebhookPayload.model_json_schema(ref_template="#/components/schemas/{model}")
    body_defs = body_schema.pop("$defs", {})
    webhook_body = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/WebhookPayload"}}}}}
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build_openapi()
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(body_defs)
            schemas["WebhookPayload"] = body_schema
        return app.openapi_schema or doc

    app.openapi = openapi  # type: ignore[method-assign]

    @app.post("/webhook/alerts", response_model=WebhookAnswer, openapi_extra=webhook_body,
              responses={400: problem, 401: problem, 413: problem, 415: problem,
                         503: problem})
    async def webhook(request: Request) -> Response:
        """Store an Alertmanager webhook delivery (payload version 4), idempotently."""
        m.received.inc()
        check_token(request)
        raw = await read_body(request)
        try:
            payload = WebhookPayload.model_validate_json(raw)  # parsed and checked in one pass
        except ValidationError:
            payload = refusal(raw)
        now = datetime.now(UTC)
        records = [AlertRecord.from_webhook(a, now) for a in payload.alerts]
        try:
            # On the event loop until the batch that holds it is written in a worker thread;
            # a storage that does not answer (a hung server) gets a bounded 503, and the
            # write, shielded, may still land: Alertmanager's retry is then a duplicate.
            result = await asyncio.wait_for(asyncio.shield(deliveries.ingest(records)),
                                            STORAGE_WAIT_SECONDS)
        except TimeoutError:
            log.error("storage did not answer", extra={"seconds": STORAGE_WAIT_SECONDS})
            raise Rejected(503, "storage", "the storage did not answer within "
                           f"{STORAGE_WAIT_SECONDS:g} s; retry") from None
        except Exception as exc:
            log.error("storage failed", extra={"error": str(exc)})
            raise Rejected(503, "storage", "the alert could not be stored; retry") from None
        m.stored.inc(result.stored)
        if responder is not None:
            responder.submit(result.new_firing)  # queued: the answer never waits for them
        m.duplicates.inc(result.duplicates)
        m.resolved.inc(result.resolved)
        # a Response: FastAPI sends it as it is, without validating and encoding it again
        return Response(WebhookAnswer(
            status="ok", alerts=len(records), stored=result.stored,
            duplicates=result.duplicates, resolved=result.resolved).model_dump_json(),
            media_type="application/json")

    def refusal(raw: bytes) -> WebhookPayload:
        """Why a body failed the one-pass validation, in the words of the two-step one
        (JSON, then the model) that the API has always given: raises Rejected."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Rejected(400, "malformed_json", f"not valid JSON: {exc}") from None
        except RecursionError:  # a 5xx would have Alertmanager retry it forever
            raise Rejected(400, "invalid_payload", "nested too deeply to be a webhook "
                           "payload") from None
        try:
            return WebhookPayload.model_validate(data)
        except ValidationError as exc:
            raise Rejected(400, "invalid_payload", _problems(exc)) from None

    health_answers = {ok: Health(status="ok" if ok else "degraded", version=__version__,
                                 storage=ok).model_dump_json().encode() for ok in (True, False)}

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> Response:
        """Liveness and storage reachability."""
        ok = watch.reachable()  # pinged every half second by its own thread
        return Response(health_answers[ok], status_code=200 if ok else 503,
                        media_type="application/json")

    @app.get("/metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})
    def metrics_page() -> Response:
        """The consolidator's own Prometheus metrics."""
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    query_body = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/KnowledgeQuery"}}}}}
    body_defs["KnowledgeQuery"] = KnowledgeQuery.model_json_schema()

    @app.post("/api/knowledge/query", response_model=KnowledgeResults,
              openapi_extra=query_body, responses={400: problem, 413: problem, 415: problem})
    async def knowledge_query(request: Request) -> Response:
        """Text search over the knowledge-base entries (any word; most matched first)."""
        raw = await read_body(request)
        try:
            q = KnowledgeQuery.model_validate_json(raw)
        except ValidationError as exc:
            raise Rejected(400, "invalid_payload", _problems(exc)) from None
        return Response(await views.query(q.query, q.limit), media_type="application/json")

    @app.get("/api/knowledge/summary", response_model=KnowledgeSummary)
    async def knowledge_summary() -> Response:
        """How many entries and patterns, by category and severity; the most frequent."""
        return Response(await views.summary(), media_type="application/json")

    @app.get("/api/knowledge/export", response_model=KnowledgeExport)
    def knowledge_export() -> KnowledgeExport:
        """Every entry and every pattern (including those not yet recurring)."""
        return views.export()

    @app.get("/api/persistence/health", response_model=PersistenceHealth,
             responses={503: problem})
    def persistence_health() -> Any:
        """The storage: reachable, what it holds, its size on disk."""
        try:
            info = repo.describe()
        except Exception as exc:
            log.error("storage unreachable", extra={"error": str(exc)})
            return JSONResponse({"error": "storage", "detail": "the storage is unreachable"},
                                status_code=503)
        return PersistenceHealth(ok=True, **info)

    @app.get("/api/persistence/export", response_model=PersistenceExport)
    def persistence_export() -> PersistenceExport:
        """Every stored alert and daily row, and the aggregates of the pruned alerts (for a
        backup or a move between backends)."""
        return PersistenceExport(
            version=1, generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            alerts=[AlertModel(**a.as_json()) for a in repo.alerts()],
            daily=[DailyModel(store=r.store, **trend_day(r).model_dump())
                   for r in repo.daily()],
            alert_archive=[ArchivedSeriesModel(**{**vars(g), "days": sorted(g.days)})
                           for g in repo.alert_archive()])

    @app.get("/", response_class=HTMLResponse)
    async def page(days: Annotated[int, Query(ge=1, le=366)] = 30,
                   refresh: Annotated[int, Query(ge=0, le=3600)] = 30) -> HTMLResponse:
        """What is firing now and since when, what was resolved in the last 24 hours; each
        store's memory count over the last `days` days (today so far included), the days
        in alert shaded; the knowledge base with its runbooks; links to the daily reports
        and the API. Reloads itself every `refresh` seconds (0: never)."""
        return HTMLResponse(await views.page(days, refresh))

    @app.get("/api/reports/{day}", response_class=PlainTextResponse,
             responses={200: {"content": {"text/markdown": {}}}, 404: problem})
    def daily_report(day: Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$")]) -> Response:
        """A consolidated day's Markdown report: trends, alerts, recurring patterns."""
        text = report_for(repo, kb, day)
        if text is None:
            return JSONResponse({"error": "not_found",
                                 "detail": f"{day} has not been consolidated"}, status_code=404)
        return Response(text, media_type="text/markdown; charset=utf-8")

    @app.get("/api/responses", response_model=list[ResponseRunModel])
    def responses_log() -> list[ResponseRunModel]:
        """Every automated response run and its outcome, oldest first."""
        return [ResponseRunModel(**vars(r)) for r in repo.responses()]

    @app.get("/api/trends", response_model=Trends | AllTrends)
    async def trends(store: str | None = None,
                     days: Annotated[int, Query(ge=1, le=3660)] = 30) -> Response:
        """A store's consolidated days, oldest first: alerts fired by severity and the
        seconds spent in alert (the last `days` consolidated days); without `store`, every
        store's (`{"stores": [...]}`)."""
        return Response(await views.trends(store, days), media_type="application/json")

    @app.get("/api/persistence/historical", response_model=Historical)
    async def persistence_historical(days: Annotated[int, Query(ge=1, le=3660)] = 30
                                     ) -> Response:
        """Per store and day of the last `days` days (today so far included, `partial`):
        the memory counts from the snapshots and the alerts (fired by severity, time in
        alert, alert names). The route of the orchestrator API the consolidator replaces."""
        return Response(await views.historical(days), media_type="application/json")

    async def health_endpoint(request: Request) -> Response:
        return await health()

    app.add_middleware(HotPaths, rejected=rejected, endpoints={
        ("POST", "/webhook/alerts"): webhook, ("GET", "/health"): health_endpoint})
    return app
