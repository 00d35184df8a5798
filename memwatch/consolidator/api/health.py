"""GET /health (liveness and the storage's reachability) and GET /metrics (the
consolidator's own)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from memwatch import __version__
from memwatch.consolidator.api.state import State
from memwatch.consolidator.models import Health

router = APIRouter()

# the two answers /health has, encoded once
HEALTH_ANSWERS = {ok: Health(status="ok" if ok else "degraded", version=__version__,
                             storage=ok).model_dump_json().encode() for ok in (True, False)}


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(state: State) -> Response:
    """Liveness and storage reachability."""
    ok = state.watch.reachable()  # pinged every half second by its own thread
    return Response(HEALTH_ANSWERS[ok], status_code=200 if ok else 503,
                    media_type="application/json")


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
def metrics_page(state: State) -> Response:
    """The consolidator's own Prometheus metrics."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
