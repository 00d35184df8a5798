"""A refused request: the error the routes raise and the JSON answer it becomes."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from memwatch.consolidator.api.state import app_state
from memwatch.consolidator.models import Problem
from memwatch.errors import MemwatchError

# the `responses` entry of a route that may answer a Problem
PROBLEM: dict[str, Any] = {"model": Problem}


class Rejected(MemwatchError):
    """`reason`: the rejected counter's label and the answer's `error`."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


def problems(exc: ValidationError) -> str:
    """The first ten validation errors, each as `where: what`."""
    parts = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


async def answer_rejected(request: Request, exc: Rejected) -> Response:
    """The exception handler of Rejected (and HotPaths' answer to one)."""
    app_state(request).metrics.rejected.labels(exc.reason).inc()
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    # A refused body may still be arriving: close the connection rather than drain it.
    if exc.status == 413:
        headers = {"Connection": "close"}
    return JSONResponse({"error": exc.reason, "detail": exc.detail},
                        status_code=exc.status, headers=headers)
