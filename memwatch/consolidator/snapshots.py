"""Snapshots from the Prometheus HTTP API: each store's count, drop ratio, up, freshness and
backlog at one instant. Prometheus down or answering garbage records a gap (a row with the
error and no values) and never raises."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

from memwatch.consolidator.records import Snapshot, iso
from memwatch.errors import MemwatchError

log = logging.getLogger("memwatch.consolidator")

# `max by (store)`: a Prometheus HA pair or two exporters of one store give one value.
QUERIES: dict[str, str] = {
    "count": "max by (store) (memwatch_store_memories)",
    "drop_ratio": "max by (store) (memwatch_memories_drop_ratio)",
    "up": "min by (store) (memwatch_up)",
    "newest_seconds": "max by (store) (memwatch_newest_memory_timestamp_seconds)",
    "backlog": "max by (store) (sum by (store, instance) (memwatch_backlog))",
}


class PrometheusError(MemwatchError):
    """Prometheus could not answer a snapshot query; the snapshot is skipped and logged."""


def query(base: str, expr: str, at: datetime, timeout: float) -> dict[str, float]:
    """An instant query; returns store -> value."""
    url = f"{base.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode(
        {"query": expr, "time": f"{at.timestamp():.3f}"})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as exc:
        raise PrometheusError(f"HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise PrometheusError(f"unreachable: {getattr(exc, 'reason', exc)}") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        raise PrometheusError(f"query failed: {str(body)[:200]}")
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        raise PrometheusError(f"unexpected result type {data.get('resultType')!r}")
    out: dict[str, float] = {}
    for sample in data.get("result", []):
        store = sample.get("metric", {}).get("store")
        if store:
            out[store] = float(sample["value"][1])
    return out


def take(base: str, stores: list[str], at: datetime, timeout: float = 10.0
         ) -> list[Snapshot]:
    """One snapshot per store at `at`; a gap for every store when Prometheus fails."""
    when = iso(at.astimezone(UTC))
    values: dict[str, dict[str, float]] = {}
    try:
        for field, expr in QUERIES.items():
            values[field] = query(base, expr, at, timeout)
    except PrometheusError as exc:
        log.warning("snapshot gap", extra={"error": str(exc)})
        return [Snapshot(store=s, at=when, error=str(exc)) for s in stores]
    return [Snapshot(store=s, at=when, count=values["count"].get(s),
                     drop_ratio=values["drop_ratio"].get(s), up=values["up"].get(s),
                     newest_seconds=values["newest_seconds"].get(s),
                     backlog=values["backlog"].get(s)) for s in stores]
