"""The checks of a request before its route reads it: the bearer token, and a JSON body
read as a bounded stream (refused past max_body_bytes, so a huge or endless body is never
held in memory)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Request

from memwatch.consolidator.api.rejections import Rejected
from memwatch.consolidator.api.state import AppState


def check_token(state: AppState, request: Request) -> None:
    expected = state.bearer_token()
    if expected is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()):
        raise Rejected(401, "unauthorized", "a valid bearer token is required")


async def read_body(state: AppState, request: Request) -> bytes:
    limit = state.max_body_bytes
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise Rejected(415, "content_type", f"expected application/json, got {ctype!r}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, "too_large", f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, "too_large", f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_body(schema: str) -> dict[str, Any]:
    """The `openapi_extra` of a route whose body read_body reads (not a FastAPI body
    parameter): the schema `schema` of the document's components (consolidator.app adds
    it)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}}
