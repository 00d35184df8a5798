"""The human-readable answers: the page (GET /) and a day's Markdown report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from memwatch.consolidator.api.rejections import PROBLEM
from memwatch.consolidator.api.state import State
from memwatch.consolidator.report import report_for

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def page(state: State, days: Annotated[int, Query(ge=1, le=366)] = 30,
               refresh: Annotated[int, Query(ge=0, le=3600)] = 30) -> HTMLResponse:
    """What is firing now and since when, what was resolved in the last 24 hours; each
    store's memory count over the last `days` days (today so far included), the days
    in alert shaded; the knowledge base with its runbooks; links to the daily reports
    and the API. Reloads itself every `refresh` seconds (0: never)."""
    return HTMLResponse(await state.views.page(days, refresh))


@router.get("/api/reports/{day}", response_class=PlainTextResponse,
            responses={200: {"content": {"text/markdown": {}}}, 404: PROBLEM})
def daily_report(state: State,
                 day: Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$")]) -> Response:
    """A consolidated day's Markdown report: trends, alerts, recurring patterns."""
    text = report_for(state.repo, state.knowledge, day)
    if text is None:
        return JSONResponse({"error": "not_found",
                             "detail": f"{day} has not been consolidated"}, status_code=404)
    return Response(text, media_type="text/markdown; charset=utf-8")
