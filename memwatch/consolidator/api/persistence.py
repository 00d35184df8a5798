"""/api/persistence/*: the storage's health, its export and the historical answer."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from memwatch.consolidator.api.rejections import PROBLEM
from memwatch.consolidator.api.state import State
from memwatch.consolidator.models import (
    AlertModel,
    ArchivedSeriesModel,
    DailyModel,
    Historical,
    PersistenceExport,
    PersistenceHealth,
)
from memwatch.consolidator.views import trend_day

log = logging.getLogger("memwatch.consolidator")
router = APIRouter()


@router.get("/api/persistence/health", response_model=PersistenceHealth,
            responses={503: PROBLEM})
def persistence_health(state: State) -> Any:
    """The storage: reachable, what it holds, its size on disk."""
    try:
        info = state.repo.describe()
    except Exception as exc:
        log.error("storage unreachable", extra={"error": str(exc)})
        return JSONResponse({"error": "storage", "detail": "the storage is unreachable"},
                            status_code=503)
    return PersistenceHealth(ok=True, **asdict(info))


@router.get("/api/persistence/export", response_model=PersistenceExport)
def persistence_export(state: State) -> PersistenceExport:
    """Every stored alert and daily row, and the aggregates of the pruned alerts (for a
    backup or a move between backends)."""
    repo = state.repo
    return PersistenceExport(
        version=1, generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        alerts=[AlertModel(**a.as_json()) for a in repo.alerts()],
        daily=[DailyModel(store=r.store, **trend_day(r).model_dump()) for r in repo.daily()],
        alert_archive=[ArchivedSeriesModel(**{**vars(g), "days": sorted(g.days)})
                       for g in repo.alert_archive()])


@router.get("/api/persistence/historical", response_model=Historical)
async def persistence_historical(state: State,
                                 days: Annotated[int, Query(ge=1, le=3660)] = 30) -> Response:
    """Per store and day of the last `days` days (today so far included, `partial`):
    the memory counts from the snapshots and the alerts (fired by severity, time in
    alert, alert names). The route of the orchestrator API the consolidator replaces."""
    return Response(await state.views.historical(days), media_type="application/json")
