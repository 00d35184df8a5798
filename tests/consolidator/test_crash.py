"""kill -9 while alerts are being posted: every acknowledged alert survives, exactly once."""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.consolidator.payloads import alert, payload
from tests.consolidator.support import request, start_consolidate
from tests.generators.am_support import free_port

TOTAL = 1000
KILL_AFTER = 300  # acknowledged posts before the kill


def post(url: str, fingerprint: str) -> bool:
    """True when the consolidator acknowledged (200) this alert."""
    body = json.dumps(payload(alert(fingerprint))).encode()
    try:
        status, _, _ = request(url, "POST", "/webhook/alerts", body,
                               {"Content-Type": "application/json"}, timeout=10)
    except (OSError, http.client.HTTPException):  # killed mid-answer: not acknowledged
        return False
    return status == 200


def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite"
    port = free_port()
    fingerprints = [f"fp{i:04d}" for i in range(TOTAL)]
    acked: set[str] = set()
    lock = threading.Lock()
    enough = threading.Event()

    first = start_consolidate(tmp_path, port, db)

    def send(fp: str) -> None:
        if post(first.url, fp):
            with lock:
                acked.add(fp)
                if len(acked) >= KILL_AFTER:
                    enough.set()

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [pool.submit(send, fp) for fp in fingerprints]
            assert enough.wait(timeout=120), "too few posts acknowledged"
            first.proc.kill()  # SIGKILL mid-ingest
            first.proc.wait(timeout=10)
            for f in futures:
                f.result()
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
            first.proc.wait(timeout=10)
    acknowledged = set(acked)
    assert KILL_AFTER <= len(acknowledged) < TOTAL, "the kill did not land mid-ingest"

    with sqlite3.connect(db) as conn:  # before the restart: what the killed process left
        survived = {r[0] for r in conn.execute("SELECT fingerprint FROM alerts")}
    assert acknowledged <= survived, sorted(acknowledged - survived)[:10]

    second = start_consolidate(tmp_path, port, db)
    try:
        missing = [fp for fp in fingerprints if fp not in acknowledged]
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda fp: post(second.url, fp), missing))
        assert all(results)
    finally:
        second.proc.terminate()
        assert second.proc.wait(timeout=20) == 0, second.log.read_text()

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT fingerprint, count(*) FROM alerts GROUP BY fingerprint, "
                            "starts_at").fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sorted(fp for fp, _ in rows) == fingerprints
    assert {n for _, n in rows} == {1}
