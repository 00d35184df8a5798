"""GET /api/persistence/historical (per store and day: counts and alerts, today so far
included) on every storage, and GET /api/trends without `store` (every store's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.records import Snapshot
from memwatch.consolidator.scheduler import run_due
from memwatch.spec import parse_spec
from tests.consolidator.conftest import RepoFactory
from tests.consolidator.support import request, served
from tests.consolidator.test_knowledge import rec
from tests.consolidator.test_openapi import DOC, conforms

NOW = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
SPEC = """\
stores:
  - {name: main, preset: files, files: [{name: d, glob: /x/*}]}
  - {name: idle, preset: files, files: [{name: d, glob: /y/*}]}
"""


def t(hhmm: str, day: str = "2026-11-10") -> str:
    return f"{day}T{hhmm}:00.000000Z"


HISTORY = [
    rec("a", t("22:00", "2026-11-08"), t("02:00", "2026-11-09")),  # 2 h on each day
    rec("b", t("23:00", "2026-11-08"), t("23:30", "2026-11-08"), severity="warning",
        name="MemoryIngestionStalled"),
    rec("c", t("12:00")),  # firing: today so far, 3 h
]
SNAPSHOTS = [Snapshot("main", t(hhmm, day), count=n, up=1.0) for day, hhmm, n in (
    ("2026-11-09", "06:00", 100.0), ("2026-11-09", "18:00", 80.0), ("2026-11-10", "06:00", 90.0))]


def get(base: str, path: str) -> tuple[int, Any]:
    status, headers, raw = request(base, "GET", path)
    assert headers["content-type"] == "application/json"
    return status, json.loads(raw)


def documented(path: str, status: int) -> dict[str, Any]:
    schema: dict[str, Any] = DOC["paths"][path]["get"]["responses"][str(status)]["content"][
        "application/json"]["schema"]
    return schema


def no_counts(snapshots: int = 0) -> dict[str, Any]:
    return {"min": None, "max": None, "mean": None, "last": None, "net_change": None,
            "largest_drop": None, "uptime_ratio": None, "snapshots": snapshots, "gaps": 0}


def alerts(fired: dict[str, int], seconds: float, *names: str) -> dict[str, Any]:
    return {"fired": fired, "fired_total": sum(fired.values()), "seconds_in_alert": seconds,
            "alertnames": list(names)}


def test_historical_per_store_and_day(make_repo: RepoFactory) -> None:
    repo = make_repo()
    repo.ingest(HISTORY)
    repo.save_snapshots(SNAPSHOTS)
    run_due(repo, ["main", "idle"], NOW, 1)  # the 8th and the 9th consolidated
    kb = KnowledgeBase.from_spec(parse_spec(SPEC))
    with served(repo, knowledge=kb, clock=lambda: NOW) as c:
        status, got = get(c.url, "/api/persistence/historical?days=2")
        assert status == 200
        conforms(documented("/api/persistence/historical", 200), got)
        assert {k: got[k] for k in ("generated_at", "days", "first_day", "last_day",
                                    "last_consolidated_day")} == {
            "generated_at": "2026-11-10T15:00:00Z", "days": 2, "first_day": "2026-11-09",
            "last_day": "2026-11-10", "last_consolidated_day": "2026-11-09"}
        assert [s["store"] for s in got["stores"]] == ["idle", "main"]
        main = got["stores"][1]["days"]
        assert main == [
            {"day": "2026-11-09", "partial": False,
             "counts": {"min": 80.0, "max": 100.0, "mean": 90.0, "last": 80.0,
                        "net_change": -20.0, "largest_drop": 20.0, "uptime_ratio": 1.0,
                        "snapshots": 2, "gaps": 0},
             "alerts": alerts({}, 7200.0)},
            {"day": "2026-11-10", "partial": True,
             "counts": {"min": 90.0, "max": 90.0, "mean": 90.0, "last": 90.0,
                        "net_change": 0.0, "largest_drop": 0.0, "uptime_ratio": 1.0,
                        "snapshots": 1, "gaps": 0},
             "alerts": alerts({"critical": 1}, 3 * 3600.0, "MemoryCountZero")}]
        assert got["stores"][0]["days"] == [
            {"day": "2026-11-09", "partial": False, "counts": no_counts(),
             "alerts": alerts({}, 0.0)},
            {"day": "2026-11-10", "partial": True, "counts": no_counts(),
             "alerts": alerts({}, 0.0)}]
        status, got = get(c.url, "/api/persistence/historical?days=3")
        assert [d["day"] for d in got["stores"][1]["days"]] == [
            "2026-11-08", "2026-11-09", "2026-11-10"]
        assert got["stores"][1]["days"][0]["alerts"] == alerts(
            {"critical": 1, "warning": 1}, 7200.0, "MemoryCountZero",
            "MemoryIngestionStalled")


def test_historical_refuses_bad_days(make_repo: RepoFactory) -> None:
    repo = make_repo()
    with served(repo, clock=lambda: NOW) as c:
        for days in ("0", "3661", "-1", "x", "1.5"):
            status, got = get(c.url, f"/api/persistence/historical?days={days}")
            assert status == 422, days
            assert got["detail"][0]["loc"] == ["query", "days"], got
            assert got["detail"][0]["msg"], got
            conforms(documented("/api/persistence/historical", 422), got)


def test_trends_without_store_answers_for_every_store(make_repo: RepoFactory) -> None:
    repo = make_repo()
    repo.ingest(HISTORY)
    run_due(repo, ["main", "idle"], NOW, 1)
    kb = KnowledgeBase.from_spec(parse_spec(SPEC))
    with served(repo, knowledge=kb, clock=lambda: NOW) as c:
        status, every = get(c.url, "/api/trends?days=1")
        assert status == 200
        conforms(documented("/api/trends", 200), every)
        _, main = get(c.url, "/api/trends?store=main&days=1")
        _, idle = get(c.url, "/api/trends?store=idle&days=1")
        assert every == {"stores": [idle, main]}
        assert [d["day"] for d in main["days"]] == ["2026-11-09"]
        assert main["days"][0]["alert_seconds"] == 7200.0
        status, got = get(c.url, "/api/trends?days=0")
        assert status == 422 and got["detail"][0]["loc"] == ["query", "days"]
