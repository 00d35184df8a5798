"""POST /webhook/alerts: Alertmanager's deliveries, stored idempotently."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from memwatch.consolidator.api.guards import check_token, json_body, read_body
from memwatch.consolidator.api.rejections import PROBLEM, Rejected, problems
from memwatch.consolidator.api.state import State
from memwatch.consolidator.models import WebhookAnswer
from memwatch.consolidator.payload import WebhookPayload
from memwatch.consolidator.records import AlertRecord

log = logging.getLogger("memwatch.consolidator")
# A delivery's longest wait for the storage before a 503 (Alertmanager retries it):
# a hung database server must not hold Alertmanager's connection for ever.
STORAGE_WAIT_SECONDS = 10.0

router = APIRouter()


@router.post("/webhook/alerts", response_model=WebhookAnswer,
             openapi_extra=json_body("WebhookPayload"),
             responses={400: PROBLEM, 401: PROBLEM, 413: PROBLEM, 415: PROBLEM, 503: PROBLEM})
async def webhook(request: Request, state: State) -> Response:
    """Store an Alertmanager webhook delivery (payload version 4), idempotently."""
    m = state.metrics
    m.received.inc()
    check_token(state, request)
    raw = await read_body(state, request)
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
        result = await asyncio.wait_for(asyncio.shield(state.deliveries.ingest(records)),
                                        STORAGE_WAIT_SECONDS)
    except TimeoutError:
        log.error("storage did not answer", extra={"seconds": STORAGE_WAIT_SECONDS})
        raise Rejected(503, "storage", "the storage did not answer within "
                       f"{STORAGE_WAIT_SECONDS:g} s; retry") from None
    except Exception as exc:
        log.error("storage failed", extra={"error": str(exc)})
        raise Rejected(503, "storage", "the alert could not be stored; retry") from None
    m.stored.inc(result.stored)
    if state.responder is not None:
        state.responder.submit(result.new_firing)  # queued: the answer never waits for them
    m.duplicates.inc(result.duplicates)
    m.resolved.inc(result.resolved)
    # a Response: FastAPI sends it as it is, without validating and encoding it again
    return Response(WebhookAnswer(
        status="ok", alerts=len(records), stored=result.stored,
        duplicates=result.duplicates, resolved=result.resolved).model_dump_json(),
        media_type="application/json")


def refusal(raw: bytes) -> WebhookPayload:
    """Why a body failed the one-pass validation, in the words of the two-step one (JSON,
    then the model) that the API has always given: raises Rejected."""
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
        raise Rejected(400, "invalid_payload", problems(exc)) from None
