"""/api/knowledge/*: the knowledge base's search, summary and export."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from memwatch.consolidator.api.guards import json_body, read_body
from memwatch.consolidator.api.rejections import PROBLEM, Rejected, problems
from memwatch.consolidator.api.state import State
from memwatch.consolidator.models import (
    KnowledgeExport,
    KnowledgeQuery,
    KnowledgeResults,
    KnowledgeSummary,
)

router = APIRouter()


@router.post("/api/knowledge/query", response_model=KnowledgeResults,
             openapi_extra=json_body("KnowledgeQuery"),
             responses={400: PROBLEM, 413: PROBLEM, 415: PROBLEM})
async def knowledge_query(request: Request, state: State) -> Response:
    """Text search over the knowledge-base entries (any word; most matched first)."""
    raw = await read_body(state, request)
    try:
        q = KnowledgeQuery.model_validate_json(raw)
    except ValidationError as exc:
        raise Rejected(400, "invalid_payload", problems(exc)) from None
    return Response(await state.views.query(q.query, q.limit), media_type="application/json")


@router.get("/api/knowledge/summary", response_model=KnowledgeSummary)
async def knowledge_summary(state: State) -> Response:
    """How many entries and patterns, by category and severity; the most frequent."""
    return Response(await state.views.summary(), media_type="application/json")


@router.get("/api/knowledge/export", response_model=KnowledgeExport)
def knowledge_export(state: State) -> KnowledgeExport:
    """Every entry and every pattern (including those not yet recurring)."""
    return state.views.export()
