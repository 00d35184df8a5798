"""The SQLite repository: idempotent ingest, resolutions, all-or-nothing batches."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from memwatch.consolidator.payload import WebhookPayload
from memwatch.consolidator.repository import AlertRecord
from memwatch.consolidator.sqlite_repo import SqliteRepository
from tests.consolidator.payloads import alert, payload

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def records(body: dict[str, object]) -> list[AlertRecord]:
    return [AlertRecord.from_webhook(a, NOW) for a in WebhookPayload.model_validate(body).alerts]


def test_duplicates_stored_once_and_survive_reopen(tmp_path: Path) -> None:
    repo = SqliteRepository(tmp_path / "c.sqlite")
    body = payload(alert("a1"), alert("a2"), alert("a1"))  # a1 twice in one delivery
    first = repo.ingest(records(body))
    assert (first.stored, first.duplicates, first.resolved) == (2, 1, 0)
    again = repo.ingest(records(body))
    assert (again.stored, again.duplicates) == (0, 3)
    repo.close()
    reopened = SqliteRepository(tmp_path / "c.sqlite")
    assert reopened.count_alerts() == 2
    got = reopened.alerts(alertname="MemoryCountZero")
    assert [a.fingerprint for a in got] == ["a1", "a2"]
    assert got[0].starts_at == "2026-11-01T10:00:00.123456Z"
    assert got[0].labels == {"alertname": "MemoryCountZero", "store": "main",
                             "severity": "critical"}
    assert got[0].resolved_at is None
    assert journal_mode(tmp_path / "c.sqlite") == "wal"


def test_same_fingerprint_new_start_is_a_new_occurrence(tmp_path: Path) -> None:
    repo = SqliteRepository(tmp_path / "c.sqlite")
    r = repo.ingest(records(payload(alert("a1"), alert("a1", "2026-11-02T10:00:00Z"))))
    assert (r.stored, r.duplicates) == (2, 0)
    assert [a.starts_at for a in repo.alerts()] == ["2026-11-01T10:00:00.123456Z",
                                                    "2026-11-02T10:00:00.000000Z"]


def test_resolution_recorded_once(tmp_path: Path) -> None:
    repo = SqliteRepository(tmp_path / "c.sqlite")
    repo.ingest(records(payload(alert("a1"))))
    resolved = payload(alert("a1", status="resolved", ends="2026-11-01T10:05:00Z"),
                       status="resolved")
    r = repo.ingest(records(resolved))
    assert (r.stored, r.resolved, r.duplicates) == (0, 1, 0)
    assert repo.alerts()[0].resolved_at == "2026-11-01T10:05:00.000000Z"
    r = repo.ingest(records(resolved))
    assert (r.resolved, r.duplicates) == (0, 1)
    # a resolution whose firing was never seen is stored resolved
    r = repo.ingest(records(payload(alert("b1", status="resolved",
                                          ends="2026-11-01T11:00:00Z"))))
    assert (r.stored, r.resolved) == (1, 1)
    assert repo.alerts(store="main")[-1].resolved_at == "2026-11-01T11:00:00.000000Z"


def test_failed_batch_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = SqliteRepository(tmp_path / "c.sqlite")
    batch = records(payload(alert("a1"), alert("a2")))
    real = repo._ingest_one
    calls = []

    def failing(a: AlertRecord, result: object) -> None:
        calls.append(a.fingerprint)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real(a, result)  # type: ignore[arg-type]

    monkeypatch.setattr(repo, "_ingest_one", failing)
    with pytest.raises(RuntimeError):
        repo.ingest(batch)
    assert repo.count_alerts() == 0


def journal_mode(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        db.close()
