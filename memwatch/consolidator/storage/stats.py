"""The per-series alert stats every repository keeps up to date at each write, and their
reading back as aggregates: what the knowledge base reads instead of every alert."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from memwatch.consolidator.records import AlertAggregate, AlertRecord, duration_us, labels_text

# The stored alerts summed per alert series, severity and UTC start day, kept up to date at
# every write (SQLite, PostgreSQL: in the write's transaction), so that the knowledge base
# reads these instead of every alert.
STATS_COLUMNS = ("alertname", "store", "labels", "severity", "day", "occurrences", "resolved",
                 "duration_us", "first_seen", "last_seen")
StatsKey = tuple[str, str, str, str, str]  # alertname, store, labels (text), severity, day


class StatsDelta:
    """Changes to the stats rows, summed per key; `rows()` in STATS_COLUMNS order. First and
    last seen only widen a row: a prune that removes a row's first or last occurrence has
    the row's bounds recomputed from the alerts left (see storage.sql.prune_alerts)."""

    def __init__(self) -> None:
        self._sums: dict[StatsKey, list[Any]] = {}

    def _at(self, key: StatsKey, starts_at: str) -> list[Any]:
        row = self._sums.setdefault(key, [0, 0, 0, starts_at, starts_at])
        row[3], row[4] = min(row[3], starts_at), max(row[4], starts_at)
        return row

    def occurrence(self, a: AlertRecord, sign: int = 1) -> None:
        """`a` stored (sign 1) or deleted (sign -1), with its resolution if it has one."""
        row = self._at((a.alertname, a.store, labels_text(a.labels), a.severity,
                        a.starts_at[:10]), a.starts_at)
        row[0] += sign
        if a.resolved_at is not None:
            row[1] += sign
            row[2] += sign * duration_us(a.starts_at, a.resolved_at)

    def resolution(self, series: tuple[str, str, str, str], starts_at: str,
                   resolved_at: str) -> None:
        """A stored occurrence of `series` (alertname, store, labels text, severity) that
        started at `starts_at` got its resolution."""
        row = self._at((*series, starts_at[:10]), starts_at)
        row[1] += 1
        row[2] += duration_us(starts_at, resolved_at)

    def keys(self) -> list[StatsKey]:
        return sorted(self._sums)

    def rows(self) -> list[tuple[Any, ...]]:
        return [(*k, *v) for k, v in sorted(self._sums.items())]


def series_from_stats(rows: Iterable[Sequence[Any]]) -> list[AlertAggregate]:
    """Stats rows summed per series and severity (alertname, store, labels text, severity,
    days joined by ",", occurrences, resolved, duration_us, first seen, last seen) as one
    aggregate per alert series, sorted by series: what `fold` gives from the alerts."""
    out: dict[tuple[str, str, str], AlertAggregate] = {}
    for name, store, labels, severity, days, occurrences, resolved, dur, first, last in rows:
        agg = AlertAggregate(name, store, json.loads(labels), int(occurrences),
                             set(str(days).split(",")), int(resolved), int(dur), str(first),
                             str(last), {severity: int(occurrences)})
        if (name, store, labels) in out:
            out[(name, store, labels)].merge(agg)
        else:
            out[(name, store, labels)] = agg
    return [out[k] for k in sorted(out)]
