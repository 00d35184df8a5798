"""POST /webhook/alerts over real HTTP: stored once, resolutions, refusals that store nothing."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.consolidator.payloads import alert, payload
from tests.consolidator.support import consolidator, metric, post_json, request, served
from tests.generators.am_support import tool

JSON = {"Content-Type": "application/json"}


def test_same_delivery_twice_is_stored_once(tmp_path: Path) -> None:
    with consolidator(tmp_path / "c.sqlite") as c:
        body = payload(alert("f1"), alert("f2", "2026-11-01T10:01:00Z"))
        assert post_json(c.url, body) == (200, {"status": "ok", "alerts": 2, "stored": 2,
                                                "duplicates": 0, "resolved": 0})
        assert post_json(c.url, body)[1]["duplicates"] == 2
        # a third delivery (the other Alertmanager of an HA pair) of the same occurrence
        assert post_json(c.url, payload(alert("f1")))[1]["stored"] == 0
        assert c.repo.count_alerts() == 2
        assert metric(c.url, "memwatch_consolidator_alerts_stored_total") == 2
        assert metric(c.url, "memwatch_consolidator_alerts_duplicate_total") == 3
        assert metric(c.url, "memwatch_consolidator_webhooks_received_total") == 3


def test_resolution_is_recorded(tmp_path: Path) -> None:
    with consolidator(tmp_path / "c.sqlite") as c:
        post_json(c.url, payload(alert("f1")))
        status, answer = post_json(c.url, payload(
            alert("f1", status="resolved", ends="2026-11-01T10:07:30Z"), status="resolved"))
        assert (status, answer["resolved"], answer["stored"]) == (200, 1, 0)
        [stored] = c.repo.alerts()
        assert stored.resolved_at == "2026-11-01T10:07:30.000000Z"
        assert metric(c.url, "memwatch_consolidator_alerts_resolved_total") == 1


@pytest.mark.parametrize(("body", "headers", "status", "reason", "detail"), [
    (b"{not json", JSON, 400, "malformed_json", "not valid JSON"),
    (json.dumps({"version": "4", "status": "firing"}).encode(), JSON, 400, "invalid_payload",
     "alerts: Field required"),
    (json.dumps(payload(alert("f1"))).replace('"4"', '"3"').encode(), JSON, 400,
     "invalid_payload", "version"),
    (json.dumps(payload({**alert("f1"), "startsAt": "yesterday"})).encode(), JSON, 400,
     "invalid_payload", "alerts.0.startsAt"),
    (json.dumps([1, 2]).encode(), JSON, 400, "invalid_payload", "valid dictionary"),
    (json.dumps(payload(alert("f1"))).encode(), {"Content-Type": "text/plain"}, 415,
     "content_type", "application/json"),
    (json.dumps(payload(alert("f1"))).encode(), {}, 415, "content_type", "application/json"),
    # issue 11, defects 8 and 9: each was a 500, which Alertmanager retries forever
    (("[" * 1000 + "]" * 1000).encode(), JSON, 400, "invalid_payload", "nested too deeply"),
    (('{"a":' * 1000 + "1" + "}" * 1000).encode(), JSON, 400, "invalid_payload",
     "nested too deeply"),
    (json.dumps(payload({**alert("f1"), "startsAt": "9999-12-31T23:00:00-01:00"})).encode(),
     JSON, 400, "invalid_payload", "alerts.0.startsAt: Value error, outside the years"),
    (json.dumps(payload({**alert("f1"), "startsAt": "0001-01-01T00:00:00+01:00"})).encode(),
     JSON, 400, "invalid_payload", "alerts.0.startsAt: Value error, outside the years"),
    (json.dumps(payload({**alert("f1", status="resolved"),
                         "endsAt": "9999-12-31T23:00:00-01:00"})).encode(),
     JSON, 400, "invalid_payload", "alerts.0.endsAt: Value error, outside the years"),
])
def test_refusals_store_nothing(tmp_path: Path, body: bytes, headers: dict[str, str],
                                status: int, reason: str, detail: str) -> None:
    with consolidator(tmp_path / "c.sqlite") as c:
        got, _, raw = request(c.url, "POST", "/webhook/alerts", body, headers)
        answer = json.loads(raw)
        assert (got, answer["error"]) == (status, reason)
        assert detail in answer["detail"]
        assert c.repo.count_alerts() == 0
        assert metric(c.url, "memwatch_consolidator_webhooks_rejected_total",
                      reason=reason) == 1


@pytest.mark.parametrize("chunked", [False, True])
def test_body_over_the_limit_is_413(tmp_path: Path, chunked: bool) -> None:
    with consolidator(tmp_path / "c.sqlite", max_body_bytes=4096) as c:
        many = payload(*(alert(f"f{i}") for i in range(60)))
        raw = json.dumps(many).encode()
        assert len(raw) > 4096
        got, _, answer = request(c.url, "POST", "/webhook/alerts", raw, JSON, chunked=chunked)
        assert (got, json.loads(answer)["error"]) == (413, "too_large")
        assert c.repo.count_alerts() == 0
        small = json.dumps(payload(alert("ok"))).encode()
        assert request(c.url, "POST", "/webhook/alerts", small, JSON, chunked=chunked)[0] == 200
        assert c.repo.count_alerts() == 1


def test_bearer_token_guards_the_webhook(tmp_path: Path) -> None:
    with consolidator(tmp_path / "c.sqlite", bearer_token="s3cret-token") as c:
        body = payload(alert("f1"))
        assert post_json(c.url, body)[0] == 401
        assert post_json(c.url, body, token="wrong")[0] == 401
        assert c.repo.count_alerts() == 0
        assert post_json(c.url, body, token="s3cret-token")[0] == 200
        assert c.repo.count_alerts() == 1
        _, _, raw = request(c.url, "GET", "/metrics")
        assert b"s3cret-token" not in raw
        assert metric(c.url, "memwatch_consolidator_webhooks_rejected_total",
                      reason="unauthorized") == 2


def test_health_and_openapi(tmp_path: Path) -> None:
    with consolidator(tmp_path / "c.sqlite") as c:
        status, _, raw = request(c.url, "GET", "/health")
        assert status == 200
        assert json.loads(raw)["storage"] is True
        status, _, raw = request(c.url, "GET", "/openapi.json")
        doc = json.loads(raw)
        op = doc["paths"]["/webhook/alerts"]["post"]
        assert set(op["responses"]) >= {"200", "400", "401", "413", "415"}
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schemas = doc["components"]["schemas"]
        body = schemas[ref.rpartition("/")[2]]
        assert body["properties"]["version"]["const"] == "4"
        refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', raw.decode()))
        assert "WebhookAlert" in refs
        assert refs <= set(schemas), refs - set(schemas)
        assert "/health" in doc["paths"] and "/metrics" in doc["paths"]


def test_metrics_pass_promtool_check(tmp_path: Path) -> None:
    promtool = tool("promtool", "prometheus")
    with consolidator(tmp_path / "c.sqlite") as c:
        post_json(c.url, payload(alert("f1")))
        request(c.url, "POST", "/webhook/alerts", b"{", JSON)
        _, _, raw = request(c.url, "GET", "/metrics")
    proc = subprocess.run([promtool, "check", "metrics"], input=raw, capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout + proc.stderr == b""  # no lint problem at all
    assert b'memwatch_consolidator_webhooks_rejected_total{reason="malformed_json"} 1.0' in raw


def test_hot_paths_answer_as_the_routes_do(tmp_path: Path) -> None:
    """/webhook/alerts and /health are served by HotPaths (the same endpoint functions,
    without FastAPI's router): other methods and paths still get FastAPI's answers, and a
    refusal its headers."""
    with consolidator(tmp_path / "c.sqlite", bearer_token="s3cret-token") as c:
        got, headers, raw = request(c.url, "POST", "/webhook/alerts",
                                    json.dumps(payload(alert("f1"))).encode(), JSON)
        assert (got, headers.get("www-authenticate")) == (401, "Bearer")
        assert json.loads(raw)["error"] == "unauthorized"
        assert headers["content-type"] == "application/json"
        assert request(c.url, "GET", "/webhook/alerts")[0] == 405
        assert request(c.url, "POST", "/health")[0] == 405
        got, headers, raw = request(c.url, "GET", "/health")
        assert (got, headers["content-type"], json.loads(raw)["status"]) == (
            200, "application/json", "ok")
        assert request(c.url, "HEAD", "/health")[0] == 405


def test_a_nul_character_is_stored_everywhere_and_loses_no_alert(make_repo: Any) -> None:
    """Issue 11, defect 10: on PostgreSQL an alert with U+0000 in a label, its fingerprint
    or generatorURL was answered 503 "retry" forever and its delivery's other alerts never
    stored. Every storage keeps U+FFFD in its place; the delivery is stored whole."""
    repo = make_repo()
    odd = {**alert("f\x00nul"), "generatorURL": "http://prom/\x00"}
    odd["labels"] = {**odd["labels"], "note": "a\x00b"}
    with served(repo) as s:
        url = f"http://{s.host}:{s.port}"
        status, answer = post_json(url, payload(odd, alert("plain")))
        assert (status, answer["stored"]) == (200, 2)
        assert post_json(url, payload(odd))[1]["duplicates"] == 1  # the same text: deduped
    stored = {a.fingerprint: a for a in repo.alerts()}
    assert set(stored) == {"f\ufffdnul", "plain"}
    assert stored["f\ufffdnul"].labels["note"] == "a\ufffdb"
    assert stored["f\ufffdnul"].generator_url == "http://prom/\ufffd"
