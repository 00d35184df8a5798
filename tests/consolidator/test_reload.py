"""`memwatch consolidate` reloads its spec section on SIGHUP (issue 14): a rotated bearer
token works at once and the old one stops working; an invalid spec keeps the running
settings and says so in memwatch_consolidator_config_last_reload_successful; a key that
takes a restart is logged as such."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.consolidator.payloads import alert, payload
from tests.consolidator.support import MEMWATCH, metric, request, wait_healthy
from tests.generators.am_support import free_port

SPEC = """\
stores:
  - {{name: main, preset: files, files: [{{name: dumps, glob: /nonexistent/*.dump}}]}}
consolidator:
  storage: {{path: {db}}}
  bearer_token_file: {token}
  prometheus_url: null
  retention_days: {retention}
"""


def post(url: str, token: str) -> int:
    status, _, _ = request(url, "POST", "/webhook/alerts",
                           json.dumps(payload(alert(f"f{time.monotonic_ns()}"))).encode(),
                           {"Content-Type": "application/json",
                            "Authorization": f"Bearer {token}"})
    return status


def until(check: object, what: str) -> None:
    deadline = time.monotonic() + 20
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sighup_rotates_the_token_and_keeps_a_bad_spec_out(tmp_path: Path) -> None:
    token, spec = tmp_path / "token", tmp_path / "spec.yaml"
    token.write_text("first-token\n")
    text = SPEC.format(db=json.dumps(str(tmp_path / "c.sqlite")), token=token, retention=90)
    spec.write_text(text)
    port, log = free_port(), tmp_path / "consolidate.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(MEMWATCH), "consolidate", "--spec", str(spec), "--listen",
                                 f"127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    reload_ok = "memwatch_consolidator_config_last_reload_successful"
    try:
        wait_healthy(url, proc, log)
        assert post(url, "first-token") == 200 and post(url, "second-token") == 401
        assert metric(url, reload_ok) == 1
        started = metric(url, f"{reload_ok.removesuffix('successful')}success_timestamp_seconds")
        token.write_text("second-token\n")
        spec.write_text(text.replace("retention_days: 90", "retention_days: 30")
                        .replace("storage: {path:", "max_body_bytes: 4096\n  storage: {path:"))
        proc.send_signal(signal.SIGHUP)
        until(lambda: post(url, "second-token") == 200, "the new token accepted")
        assert post(url, "first-token") == 401
        assert (metric(url, f"{reload_ok.removesuffix('successful')}"
                            "success_timestamp_seconds") or 0) > (started or 0)
        until(lambda: "these take a restart" in log.read_text(), "the restart warning")
        assert 'keys=max_body_bytes' in log.read_text()
        # an invalid spec: nothing changes, and the metric says so
        spec.write_text("stores: [")
        proc.send_signal(signal.SIGHUP)
        until(lambda: metric(url, reload_ok) == 0, "the failed reload")
        assert post(url, "second-token") == 200
        assert "reload failed; the running settings stay" in log.read_text()
        # an unreadable token file: the running token stays
        spec.write_text(text.replace(str(token), str(tmp_path / "gone")))
        proc.send_signal(signal.SIGHUP)
        until(lambda: "cannot read" in log.read_text(), "the unreadable token logged")
        assert post(url, "second-token") == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
    assert rc == 0, log.read_text()
