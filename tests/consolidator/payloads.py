"""Alertmanager webhook payloads (version 4) as Alertmanager writes them."""

from __future__ import annotations

from typing import Any


def alert(fingerprint: str, starts: str = "2026-11-01T10:00:00.123456789Z", *,
          status: str = "firing", ends: str = "0001-01-01T00:00:00Z",
          alertname: str = "MemoryCountZero", store: str = "main",
          severity: str = "critical") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": alertname, "store": store, "severity": severity},
        "annotations": {"summary": f"{alertname} on {store}"},
        "startsAt": starts, "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "receiver": "consolidator", "status": status, "alerts": list(alerts),
        "groupLabels": {"store": "main"}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093", "version": "4",
        "groupKey": '{}:{store="main"}', "truncatedAlerts": 0,
    }
