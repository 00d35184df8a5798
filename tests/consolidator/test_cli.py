"""`memwatch consolidate`: serves from the spec, stops cleanly on SIGTERM, keeps its data."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.consolidator.payloads import alert, payload
from tests.consolidator.support import (
    MEMWATCH,
    SPEC,
    post_json,
    request,
    start_consolidate,
    wait_healthy,
)
from tests.generators.am_support import free_port


def test_consolidate_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    p = start_consolidate(tmp_path, free_port(), db)
    try:
        assert post_json(p.url, payload(alert("x1"), alert("x2")))[1]["stored"] == 2
    finally:
        p.proc.send_signal(signal.SIGTERM)
        rc = p.proc.wait(timeout=20)
    log = p.log.read_text()
    assert rc == 0, log
    assert "msg=listening" in log and "msg=stopped" in log
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT fingerprint FROM alerts ORDER BY 1").fetchall() == [
            ("x1",), ("x2",)]


def test_port_in_use_exits_1(tmp_path: Path) -> None:
    port = free_port()
    first = start_consolidate(tmp_path, port, tmp_path / "a.sqlite")
    try:
        proc = subprocess.run([str(MEMWATCH), "consolidate", "--spec", str(tmp_path / "spec.yaml"),
                               "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True,
                              timeout=30, cwd=tmp_path)
        assert proc.returncode == 1
        assert f"cannot start on 127.0.0.1:{port}" in proc.stderr
    finally:
        first.proc.terminate()
        first.proc.wait(timeout=20)


def test_consolidate_on_postgresql(tmp_path: Path, consolidator_pg: object,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.postgres.cluster import APP_PASSWORD, APP_USER

    cluster: Any = consolidator_pg
    cluster.execute(f'CREATE DATABASE cli_pg OWNER "{APP_USER}"', dbname="postgres")
    monkeypatch.setenv("CONSOLIDATOR_DSN", cluster.dsn(dbname="cli_pg"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("storage: {path: %s}",
                                 "storage: {backend: postgresql, dsn: 'env:CONSOLIDATOR_DSN'}\n"
                                 "  prometheus_url: null"), encoding="utf-8")
    port = free_port()
    log = tmp_path / "pg.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(MEMWATCH), "consolidate", "--spec", str(spec), "--listen",
                                 f"127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        assert post_json(url, payload(alert("p1"), alert("p2")))[1]["stored"] == 2
        assert post_json(url, payload(alert("p1")))[1]["duplicates"] == 1
        status, _, raw = request(url, "GET", "/api/persistence/health")
        assert status == 200
        health = json.loads(raw)
        assert (health["backend"], health["alerts"]) == ("postgresql", 2)
        assert APP_PASSWORD not in raw.decode()
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    assert APP_PASSWORD not in log.read_text()
    rows = cluster.execute("SELECT fingerprint FROM consolidator_alerts ORDER BY 1",
                           dbname="cli_pg")
    assert rows == [("p1",), ("p2",)]


def test_consolidate_on_mongodb(tmp_path: Path, mongo: Any,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`backend: mongodb` with the URI from the environment and the database from the spec."""
    database = mongo.db_name("cli")
    monkeypatch.setenv("CONSOLIDATOR_URI", mongo.uri)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("storage: {path: %s}",
                                 "storage: {backend: mongodb, dsn: 'env:CONSOLIDATOR_URI', "
                                 f"database: {database}}}\n"
                                 "  prometheus_url: null"), encoding="utf-8")
    port = free_port()
    log = tmp_path / "mongo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(MEMWATCH), "consolidate", "--spec", str(spec), "--listen",
                                 f"127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        assert post_json(url, payload(alert("m1"), alert("m2")))[1]["stored"] == 2
        assert post_json(url, payload(alert("m1")))[1]["duplicates"] == 1
        status, _, raw = request(url, "GET", "/api/persistence/health")
        assert status == 200
        health = json.loads(raw)
        assert (health["backend"], health["alerts"]) == ("mongodb", 2)
        assert health["location"].endswith("/" + database)
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0, log.read_text()
    stored = mongo.client[database]["consolidator_alerts"].find({}, {"_id": 0, "fingerprint": 1})
    assert sorted(d["fingerprint"] for d in stored) == ["m1", "m2"]
