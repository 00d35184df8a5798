"""docs/consolidator.openapi.json is current, and the served answers conform to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from memwatch.consolidator import openapi
from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.spec import parse_spec
from tests.consolidator.payloads import alert, payload
from tests.consolidator.support import consolidator, request
from tests.consolidator.test_knowledge import HISTORY, SPEC

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "consolidator.openapi.json"
DOC: dict[str, Any] = json.loads(DOC_PATH.read_text(encoding="utf-8"))
JSON = {"Content-Type": "application/json"}


def test_committed_document_is_current() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == openapi.text(), (
        "regenerate: .venv/bin/python -m memwatch.consolidator.openapi "
        "> docs/consolidator.openapi.json")


def conforms(schema: dict[str, Any], value: Any) -> None:
    jsonschema.Draft202012Validator(
        {**schema, "components": DOC["components"]}).validate(value)


def test_payloads_the_tests_send_match_the_documented_body() -> None:
    body = DOC["paths"]["/webhook/alerts"]["post"]["requestBody"]["content"]
    conforms(body["application/json"]["schema"], payload(alert("f1")))
    with pytest.raises(jsonschema.ValidationError):
        conforms(body["application/json"]["schema"], {"version": "3", "alerts": []})


def big() -> bytes:
    return json.dumps(payload(*(alert(f"f{i}") for i in range(40)))).encode()


CASES: list[tuple[str, str, bytes | None, dict[str, str], int]] = [
    ("POST", "/webhook/alerts", json.dumps(payload(alert("f1"))).encode(), JSON, 200),
    ("POST", "/webhook/alerts", b"{", JSON, 400),
    ("POST", "/webhook/alerts", b"{}", {"Content-Type": "text/plain"}, 415),
    ("POST", "/webhook/alerts", big(), JSON, 413),
    ("GET", "/health", None, {}, 200),
    ("POST", "/api/knowledge/query", b'{"query": "backup"}', JSON, 200),
    ("POST", "/api/knowledge/query", b'{"query": 3}', JSON, 400),
    ("GET", "/api/knowledge/summary", None, {}, 200),
    ("GET", "/api/knowledge/export", None, {}, 200),
    ("GET", "/api/trends?store=main&days=5", None, {}, 200),
    ("GET", "/api/trends?days=5", None, {}, 200),  # every store's
    ("GET", "/api/trends?days=0", None, {}, 422),
    ("GET", "/api/persistence/historical?days=5", None, {}, 200),
    ("GET", "/api/persistence/historical?days=0", None, {}, 422),
]


def test_answers_conform_to_the_document(tmp_path: Path) -> None:
    kb = KnowledgeBase.from_spec(parse_spec(SPEC))
    with consolidator(tmp_path / "c.sqlite", knowledge=kb, max_body_bytes=2048) as c:
        c.repo.ingest(HISTORY)
        for method, path, body, headers, status in CASES:
            got, resp_headers, raw = request(c.url, method, path, body, headers)
            assert got == status, (method, path, raw)
            op = DOC["paths"][path.split("?")[0]][method.lower()]
            documented = op["responses"][str(status)]
            schema = documented["content"]["application/json"]["schema"]
            conforms(schema, json.loads(raw))
            assert resp_headers["content-type"] == "application/json"
    with consolidator(tmp_path / "t.sqlite", bearer_token="tok-123") as c:
        got, _, raw = request(c.url, "POST", "/webhook/alerts", b"{}", JSON)
        assert got == 401
        conforms(DOC["paths"]["/webhook/alerts"]["post"]["responses"]["401"]["content"][
            "application/json"]["schema"], json.loads(raw))


def test_persistence_health_and_export(tmp_path: Path) -> None:
    with consolidator(tmp_path / "c.sqlite") as c:
        c.repo.ingest(HISTORY)
        c.repo.save_days([], ["2026-11-01"])
        status, _, raw = request(c.url, "GET", "/api/persistence/health")
        health = json.loads(raw)
        assert status == 200
        assert (health["ok"], health["backend"], health["journal_mode"]) == (True, "sqlite",
                                                                             "wal")
        assert (health["alerts"], health["daily_rows"], health["last_day"]) == (
            len(HISTORY), 0, "2026-11-01")
        assert health["size_bytes"] > 0
        conforms(DOC["paths"]["/api/persistence/health"]["get"]["responses"]["200"][
            "content"]["application/json"]["schema"], health)
        status, _, raw = request(c.url, "GET", "/api/persistence/export")
        export = json.loads(raw)
        assert status == 200
        assert sorted((a["fingerprint"], a["starts_at"]) for a in export["alerts"]) == sorted(
            (a.fingerprint, a.starts_at) for a in HISTORY)
        assert export["daily"] == []
        conforms(DOC["paths"]["/api/persistence/export"]["get"]["responses"]["200"][
            "content"]["application/json"]["schema"], export)
