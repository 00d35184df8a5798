"""A real Alertmanager, configured by gen-monitoring's routing, delivers to the consolidator."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from memwatch.consolidator.records import AlertRecord
from memwatch.generators import alertmanager
from tests.consolidator.support import Served, consolidator, metric
from tests.generators.am_support import run_alertmanager, spec_of


def am_post(url: str, alerts: list[dict[str, Any]]) -> None:
    req = urllib.request.Request(f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def wait_until(c: Served, check: Any, what: str) -> list[AlertRecord]:
    deadline = time.monotonic() + 20
    while True:
        got = c.repo.alerts()
        if check(got):
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {got}"
        time.sleep(0.05)


def test_alertmanager_delivers_stores_once_and_resolves(tmp_path: Path) -> None:
    with consolidator(tmp_path / "c.sqlite") as c:
        spec = spec_of(f"""
            stores:
              - {{name: main, preset: files, files: [{{name: d, glob: /x/*}}]}}
            routing:
              consolidator_url: {c.url}/webhook/alerts
              group_wait: 0s
              group_interval: 1s
            """)
        config = tmp_path / "alertmanager.yml"
        config.write_text(yaml.safe_dump(alertmanager.config(spec.routing)), encoding="utf-8")
        starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        labels = [{"alertname": "MemoryCountZero", "store": "main", "severity": "critical"},
                  {"alertname": "MemoryIngestionStalled", "store": "main",
                   "severity": "warning"}]
        with run_alertmanager(config, tmp_path) as am:
            am_post(am.url, [{"labels": lab, "annotations": {"summary": "s"},
                              "startsAt": starts.isoformat()} for lab in labels])
            got = wait_until(c, lambda a: len(a) == 2, "two alerts")
            assert sorted(a.alertname for a in got) == ["MemoryCountZero",
                                                        "MemoryIngestionStalled"]
            fingerprints = {a["labels"]["alertname"]: a["fingerprint"] for a in am.alerts()}
            assert {a.alertname: a.fingerprint for a in got} == fingerprints
            assert {a.starts_at for a in got} == {starts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
            assert all(a.resolved_at is None and a.store == "main" for a in got)

            ends = starts + timedelta(minutes=3)
            am_post(am.url, [{"labels": labels[0], "startsAt": starts.isoformat(),
                              "endsAt": ends.isoformat()}])
            got = wait_until(c, lambda a: any(x.resolved_at for x in a), "a resolution")
            by_name = {a.alertname: a for a in got}
            assert by_name["MemoryCountZero"].resolved_at == ends.strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ")
            assert by_name["MemoryIngestionStalled"].resolved_at is None
        assert c.repo.count_alerts() == 2
        # Alertmanager re-sends a group whenever it changes (the resolution above), so a
        # still-firing alert arrives again: counted as a duplicate, never stored twice.
        assert metric(c.url, "memwatch_consolidator_alerts_stored_total") == 2
        assert metric(c.url, "memwatch_consolidator_webhooks_rejected_total",
                      reason="invalid_payload") == 0
