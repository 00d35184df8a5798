"""The alert history's JSON answers: the consolidated trends and the automated-response
log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from memwatch.consolidator.api.state import State
from memwatch.consolidator.models import AllTrends, ResponseRunModel, Trends

router = APIRouter()


@router.get("/api/responses", response_model=list[ResponseRunModel])
def responses_log(state: State) -> list[ResponseRunModel]:
    """Every automated response run and its outcome, oldest first."""
    return [ResponseRunModel(**vars(r)) for r in state.repo.responses()]


@router.get("/api/trends", response_model=Trends | AllTrends)
async def trends(state: State, store: str | None = None,
                 days: Annotated[int, Query(ge=1, le=3660)] = 30) -> Response:
    """A store's consolidated days, oldest first: alerts fired by severity and the
    seconds spent in alert (the last `days` consolidated days); without `store`, every
    store's (`{"stores": [...]}`)."""
    return Response(await state.views.trends(store, days), media_type="application/json")
