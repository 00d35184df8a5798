"""Automated responses: graduated tiers, cooldown, hourly cap, command and HTTP actions,
every run recorded and counted; off by default."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from memwatch.consolidator.responses import Responder, select
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.errors import SpecError
from memwatch.spec import parse_spec
from memwatch.spec.consolidator import ResponseAction
from tests.consolidator.conftest import RepoFactory
from tests.consolidator.payloads import alert, payload
from tests.consolidator.support import consolidator, metric, post_json
from tests.consolidator.test_knowledge import rec
from tests.generators.am_support import webhook

APPEND = "import sys, pathlib; pathlib.Path(sys.argv[1]).open('a').write(sys.stdin.read() + '\\n')"


def action(name: str, **kw: Any) -> ResponseAction:
    base: dict[str, Any] = {"name": name, "alertname": "MemoryCountZero",
                            "command": [sys.executable, "-c", "pass"]}
    return ResponseAction.model_validate({**base, **kw})


def test_graduated_tiers_and_filters() -> None:
    warn, crit = action("warn", min_severity="warning"), action("crit", min_severity="critical")
    only_b = action("only-b", min_severity="info", stores=["b"])
    acts = (warn, crit, only_b)
    assert [a.name for a in select(acts, rec("1", "x", severity="critical"))] == ["crit"]
    assert [a.name for a in select(acts, rec("1", "x", severity="warning"))] == ["warn"]
    assert select(acts, rec("1", "x", severity="info")) == []
    assert [a.name for a in select(acts, rec("1", "x", severity="info", store="b"))] == [
        "only-b"]
    assert select(acts, rec("1", "x", name="MemoryIngestionStalled")) == []


def test_cooldown_cap_and_outcomes_recorded(make_repo: RepoFactory, tmp_path: Path) -> None:
    repo = make_repo()
    out = tmp_path / "ran.jsonl"
    now = [1_000_000.0]
    metrics = ConsolidatorMetrics()
    acts = (action("restart", command=[sys.executable, "-c", APPEND, str(out)],
                   cooldown="10m", max_per_hour=2),
            action("broken", alertname="MemoryIngestionStalled",
                   command=[sys.executable, "-c", "import sys; sys.exit(3)"]),
            action("slow", alertname="MemoryStoreGrowingAbnormally", timeout="500ms",
                   command=[sys.executable, "-c", "import time; time.sleep(30)"]))
    responder = Responder(acts, repo, metrics, clock=lambda: now[0])
    responder.start()
    try:
        def fire(*alerts: Any) -> None:
            responder.submit(list(alerts))
            responder.drain()

        fire(rec("a1", "2026-11-01T10:00:00.000000Z"))  # ok
        fire(rec("a2", "2026-11-01T10:01:00.000000Z"))  # same store within 10m: cooldown
        fire(rec("a3", "2026-11-01T10:02:00.000000Z", store="s2"))  # ok (2nd this hour)
        fire(rec("a4", "2026-11-01T10:03:00.000000Z", store="s3"))  # capped: 2 per hour
        now[0] += 3601
        fire(rec("a5", "2026-11-01T11:04:00.000000Z"))  # an hour later: ok again
        fire(rec("r1", "2026-11-01T12:00:00.000000Z", "2026-11-01T12:01:00.000000Z"))
        fire(rec("b1", "2026-11-01T10:00:00.000000Z", name="MemoryIngestionStalled"))
        fire(rec("t1", "2026-11-01T10:00:00.000000Z", name="MemoryStoreGrowingAbnormally"))
    finally:
        responder.stop()
    runs = [(r.response, r.fingerprint, r.outcome) for r in repo.responses()]
    assert runs == [("restart", "a1", "ok"), ("restart", "a2", "cooldown"),
                    ("restart", "a3", "ok"), ("restart", "a4", "capped"),
                    ("restart", "a5", "ok"), ("broken", "b1", "failed"),
                    ("slow", "t1", "timeout")]  # r1 arrived resolved: no response
    assert next(r for r in repo.responses() if r.outcome == "failed").detail.startswith(
        "exit 3")
    received = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["response"], r["alert"]["fingerprint"]) for r in received] == [
        ("restart", "a1"), ("restart", "a3"), ("restart", "a5")]
    assert received[0]["alert"]["labels"]["alertname"] == "MemoryCountZero"
    value = metrics.registry.get_sample_value
    assert value("memwatch_consolidator_responses_total",
                 {"response": "restart", "outcome": "ok"}) == 3
    assert value("memwatch_consolidator_responses_total",
                 {"response": "restart", "outcome": "capped"}) == 1
    assert value("memwatch_consolidator_responses_total",
                 {"response": "slow", "outcome": "timeout"}) == 1


def test_http_action_from_a_webhook_delivery(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("resp-token-123\n")
    metrics = ConsolidatorMetrics()
    with webhook() as hook:
        acts = (ResponseAction.model_validate({
            "name": "page", "alertname": "MemoryCountZero", "min_severity": "critical",
            "http": {"url": hook.url, "bearer_token_file": str(token)}}),)
        with consolidator(tmp_path / "c.sqlite", metrics=metrics,
                          responder_for=lambda repo: Responder(acts, repo, metrics)) as c:
            c.responder.start()
            try:
                body = payload(alert("f1"))
                assert post_json(c.url, body)[1]["stored"] == 1
                assert post_json(c.url, body)[1]["duplicates"] == 1  # no second response
                c.responder.drain()
            finally:
                c.responder.stop()
            posted = [(headers.get("Authorization"), body["response"],
                       body["alert"]["labels"]["alertname"]) for headers, body in hook.posts]
            runs = [(r.response, r.outcome, r.detail) for r in c.repo.responses()]
            ok = metric(c.url, "memwatch_consolidator_responses_total", outcome="ok",
                        response="page")
    assert posted == [("Bearer resp-token-123", "page", "MemoryCountZero")]
    assert runs == [("page", "ok", "HTTP 200")]
    assert ok == 1


def test_spec_responses_off_by_default_and_checked() -> None:
    stores = "stores:\n  - {name: s, preset: files, files: [{name: b, glob: /x}]}\n"
    c = parse_spec(stores).consolidator
    assert (c.responses_enabled, c.responses) == (False, ())
    with pytest.raises(SpecError) as err:
        parse_spec(stores + "consolidator:\n  responses:\n    - {name: x, alertname: A}\n")
    assert "exactly one of command or http" in "\n".join(err.value.problems)
