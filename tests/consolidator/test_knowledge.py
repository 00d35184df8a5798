"""Patterns and knowledge-base entries on synthetic alert history with known answers."""

from __future__ import annotations

import json
from pathlib import Path

from memwatch.consolidator.knowledge import KnowledgeBase, patterns, search
from memwatch.consolidator.records import AlertRecord
from memwatch.spec import parse_spec
from tests.consolidator.payloads import alert, payload
from tests.consolidator.support import consolidator, post_json, request

SPEC = """\
stores:
  - {name: main, preset: files, files: [{name: d, glob: /x/*}]}
  - name: other
    preset: files
    files: [{name: d, glob: /y/*}]
    alerts:
      MemoryCountZero:
        severity: warning
        runbook: {title: Other store emptied}
alerts:
  rules:
    MemoryCountZero:
      runbook:
        title: Store emptied
        category: data-loss
        solution: Restore the last backup.
        steps: [Stop the writers, Restore the dump, Compare counts]
        tags: [loss, mem0]
consolidator:
  pattern_min_days: 3
"""


def rec(fp: str, starts: str, resolved: str | None = None, *, name: str = "MemoryCountZero",
        store: str = "main", severity: str = "critical", **labels: str) -> AlertRecord:
    return AlertRecord(
        fingerprint=fp, starts_at=starts, alertname=name, store=store, severity=severity,
        labels={"alertname": name, "store": store, "severity": severity, **labels},
        annotations={}, generator_url="", received_at=starts, resolved_at=resolved)


HISTORY = [
    rec("a", "2026-11-01T10:00:00.000000Z", "2026-11-01T10:01:00.000000Z"),
    rec("a", "2026-11-02T10:00:00.000000Z", "2026-11-02T10:02:00.000000Z"),
    rec("a", "2026-11-02T23:59:00.000000Z", "2026-11-03T00:02:00.000000Z"),
    rec("a", "2026-11-04T08:00:00.000000Z"),  # still firing: no duration
    rec("s", "2026-11-01T09:00:00.000000Z", "2026-11-01T09:30:00.000000Z",
        name="MemoryIngestionStalled", severity="warning"),
    rec("s", "2026-11-03T09:00:00.000000Z", name="MemoryIngestionStalled",
        severity="warning"),
    rec("o", "2026-11-05T01:00:00.000000Z", store="other"),
    rec("o", "2026-11-06T01:00:00.000000Z", store="other"),
    rec("o", "2026-11-07T01:00:00.000000Z", store="other"),
]


def test_patterns_known_answers() -> None:
    got = {p.key: p for p in patterns(HISTORY)}
    assert sorted(got) == ["MemoryCountZero/main", "MemoryCountZero/other",
                           "MemoryIngestionStalled/main"]
    zero = got["MemoryCountZero/main"]
    assert (zero.occurrences, zero.days) == (4, 3)
    assert zero.mean_duration_seconds == (60 + 120 + 180) / 3
    assert (zero.first_seen, zero.last_seen) == ("2026-11-01T10:00:00.000000Z",
                                                 "2026-11-04T08:00:00.000000Z")
    assert zero.severities == {"critical": 4}
    stalled = got["MemoryIngestionStalled/main"]
    assert (stalled.occurrences, stalled.days, stalled.mean_duration_seconds) == (2, 2, 1800)


def test_pattern_labels_split_groups() -> None:
    history = [rec("p", "2026-11-01T00:00:00.000000Z", env="prod"),
               rec("d", "2026-11-01T00:00:00.000000Z", env="dev"),
               rec("p", "2026-11-02T00:00:00.000000Z", env="prod")]
    got = {p.key: p.occurrences for p in patterns(history, ("env",))}
    assert got == {"MemoryCountZero/main/env=dev": 1, "MemoryCountZero/main/env=prod": 2}


def test_entries_take_the_spec_runbook_then_the_catalogue() -> None:
    kb = KnowledgeBase.from_spec(parse_spec(SPEC))
    entries = {e.key: e for e in kb.entries(HISTORY)}
    # MemoryIngestionStalled was seen on 2 days only: a pattern, not an entry
    assert sorted(entries) == ["MemoryCountZero/main", "MemoryCountZero/other"]
    main = entries["MemoryCountZero/main"]
    assert (main.title, main.category, main.severity) == ("Store emptied", "data-loss",
                                                          "critical")
    assert main.solution == "Restore the last backup."
    assert main.steps == ("Stop the writers", "Restore the dump", "Compare counts")
    assert main.tags == ("loss", "mem0")
    other = entries["MemoryCountZero/other"]
    # the store's runbook wins field by field; the rest comes from alerts.rules
    assert (other.title, other.category, other.severity) == ("Other store emptied",
                                                             "data-loss", "warning")
    assert other.pattern.occurrences == 3
    # without a spec runbook: the catalogue's summary, component and solution
    bare = KnowledgeBase(min_days=2).entries(HISTORY)
    stalled = next(e for e in bare if e.pattern.alertname == "MemoryIngestionStalled")
    assert stalled.category == "ingestion"  # the catalogue component
    assert stalled.severity == "warning"
    assert stalled.tags == ("MemoryIngestionStalled",)
    assert "harvest" in stalled.solution


def test_search_ranks_by_words_matched() -> None:
    entries = KnowledgeBase.from_spec(parse_spec(SPEC)).entries(HISTORY)
    assert [e.key for e in search(entries, "restore other")] == [
        "MemoryCountZero/other", "MemoryCountZero/main"]
    assert [e.key for e in search(entries, "backup")] == [
        "MemoryCountZero/main", "MemoryCountZero/other"]  # 4 occurrences before 3
    assert search(entries, "unrelated words") == []


def test_knowledge_api(tmp_path: Path) -> None:
    kb = KnowledgeBase.from_spec(parse_spec(SPEC))
    with consolidator(tmp_path / "c.sqlite", knowledge=kb) as c:
        c.repo.ingest(HISTORY)
        status, answer = post_json_to(c.url, "/api/knowledge/query", {"query": "dump"})
        assert status == 200
        assert [r["key"] for r in answer["results"]] == ["MemoryCountZero/main",
                                                         "MemoryCountZero/other"]
        first = answer["results"][0]
        assert (first["occurrences"], first["days"], first["mean_duration_seconds"]) == (
            4, 3, 120.0)
        assert post_json_to(c.url, "/api/knowledge/query", {"query": ""})[0] == 400
        assert post_json_to(c.url, "/api/knowledge/query", {"q": "x"})[0] == 400

        summary = get_json(c.url, "/api/knowledge/summary")
        assert (summary["entries"], summary["patterns"], summary["min_days"]) == (2, 3, 3)
        assert summary["by_category"] == {"data-loss": 2}
        assert summary["by_severity"] == {"critical": 1, "warning": 1}
        assert [e["key"] for e in summary["most_frequent"]] == ["MemoryCountZero/main",
                                                                "MemoryCountZero/other"]
        export = get_json(c.url, "/api/knowledge/export")
        assert len(export["entries"]) == 2
        assert {p["key"]: p["days"] for p in export["patterns"]} == {
            "MemoryCountZero/main": 3, "MemoryCountZero/other": 3,
            "MemoryIngestionStalled/main": 2}
        # a webhook that adds a third day turns the stalled pattern into an entry
        post_json(c.url, payload(alert("s", "2026-11-09T09:00:00Z",
                                       alertname="MemoryIngestionStalled")))
        assert get_json(c.url, "/api/knowledge/summary")["entries"] == 3


def post_json_to(base: str, path: str, data: object) -> tuple[int, dict[str, object]]:
    status, _, raw = request(base, "POST", path, json.dumps(data).encode(),
                             {"Content-Type": "application/json"})
    return status, json.loads(raw)


def get_json(base: str, path: str) -> dict[str, object]:
    status, _, raw = request(base, "GET", path)
    assert status == 200, raw
    data: dict[str, object] = json.loads(raw)
    return data
