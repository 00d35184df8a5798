"""What the routes share (the storage, the metrics, the settings), kept on the app and
handed to each route as a FastAPI dependency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request

from memwatch.consolidator.ingest_queue import IngestQueue
from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.responses import Responder
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.consolidator.storage.base import Repository
from memwatch.consolidator.views import StorageWatch, Views


@dataclass(frozen=True)
class AppState:
    repo: Repository
    metrics: ConsolidatorMetrics
    knowledge: KnowledgeBase
    views: Views  # the answers built on the whole history, cached per storage revision
    watch: StorageWatch  # the storage's reachability, pinged by a thread of its own
    deliveries: IngestQueue  # webhook deliveries, written in batches
    responder: Responder | None  # the automated responses, when enabled
    max_body_bytes: int
    bearer_token: Callable[[], str | None]  # the current one (a reload swaps it)


def app_state(request: Request) -> AppState:
    return cast(AppState, request.app.state.consolidator)


State = Annotated[AppState, Depends(app_state)]
