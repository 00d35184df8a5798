"""A PostgreSQL server that stops answering (SIGSTOP: it accepts TCP, never replies): the
consolidator's webhook and /health still answer, within bounds (issue 11, defect 11), and
nothing is lost once it answers again."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from memwatch.consolidator.api import webhook
from memwatch.consolidator.storage.postgresql import PostgresRepository
from tests.consolidator.payloads import alert, payload
from tests.consolidator.support import request, served
from tests.postgres.cluster import APP_USER

JSON = {"Content-Type": "application/json"}


def test_a_hung_database_gets_bounded_answers(consolidator_pg: Any,
                                              monkeypatch: Any) -> None:
    monkeypatch.setattr(webhook, "STORAGE_WAIT_SECONDS", 3.0)
    dbname = f"c_{uuid.uuid4().hex[:12]}"
    consolidator_pg.execute(f'CREATE DATABASE {dbname} OWNER "{APP_USER}"',
                            dbname="postgres")
    repo = PostgresRepository(consolidator_pg.dsn(dbname=dbname))
    body = json.dumps(payload(alert("hung-1"))).encode()
    try:
        with served(repo) as s:
            url = f"http://{s.host}:{s.port}"
            with consolidator_pg.frozen():
                t0 = time.monotonic()
                status, _, raw = request(url, "POST", "/webhook/alerts", body, JSON,
                                         timeout=30)
                waited = time.monotonic() - t0
                assert (status, json.loads(raw)["error"]) == (503, "storage")
                assert waited < 10, waited  # the bound (3 s here), not the server's mercy
                time.sleep(3.5)  # no successful ping for 3 s: the storage is down
                t0 = time.monotonic()
                health, _, _ = request(url, "GET", "/health", timeout=30)
                assert health == 503 and time.monotonic() - t0 < 2
            deadline = time.monotonic() + 30
            while request(url, "GET", "/health")[0] != 200:  # answering again
                assert time.monotonic() < deadline
                time.sleep(0.2)
            status, _, raw = request(url, "POST", "/webhook/alerts", body, JSON)
            assert status == 200  # the retry: stored once, whether or not the first landed
        assert [a.fingerprint for a in repo.alerts()] == ["hung-1"]
    finally:
        repo.close()
