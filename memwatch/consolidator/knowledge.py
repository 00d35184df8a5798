"""The knowledge base: alerts grouped into patterns; recurring patterns become entries.

A pattern is every occurrence of one alertname on one store (plus the labels the spec's
`consolidator.pattern_labels` names). Alerts pruned after the retention period
count through their archived aggregates. A pattern seen on `pattern_min_days` distinct UTC
days or more becomes an entry carrying the runbook: the store's override, else the spec's
`alerts.rules` override, else the catalogue's default (field by field).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from memwatch.catalogue import BY_NAME, SEVERITIES
from memwatch.consolidator.records import AlertAggregate, AlertRecord, fold
from memwatch.spec import Spec
from memwatch.spec.monitoring import AlertOverride, Runbook


@dataclass(frozen=True)
class Pattern:
    alertname: str
    store: str
    labels: dict[str, str]
    occurrences: int
    days: int
    mean_duration_seconds: float | None  # over resolved occurrences; None if none resolved
    first_seen: str
    last_seen: str
    severities: dict[str, int]

    @property
    def key(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"{self.alertname}/{self.store}" + (f"/{extra}" if extra else "")


@dataclass(frozen=True)
class Entry:
    key: str
    title: str
    category: str
    severity: str
    solution: str
    steps: tuple[str, ...]
    tags: tuple[str, ...]
    pattern: Pattern

    def as_json(self) -> dict[str, Any]:
        p = self.pattern
        return {
            "key": self.key, "title": self.title, "category": self.category,
            "severity": self.severity, "solution": self.solution, "steps": list(self.steps),
            "tags": list(self.tags), "alertname": p.alertname, "store": p.store,
            "labels": p.labels, "occurrences": p.occurrences, "days": p.days,
            "mean_duration_seconds": p.mean_duration_seconds, "first_seen": p.first_seen,
            "last_seen": p.last_seen,
        }

    def text(self) -> str:
        p = self.pattern
        return " ".join([self.title, self.category, self.severity, self.solution, *self.steps,
                         *self.tags, p.alertname, p.store, *p.labels.values()]).lower()


def group(series: Iterable[AlertAggregate], labels: tuple[str, ...] = ()) -> list[Pattern]:
    """The alert series (aggregates of stored and of archived occurrences alike) grouped by
    alertname + store + the named labels, sorted by key."""
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], AlertAggregate] = {}
    for agg in series:
        extra = tuple((k, agg.labels.get(k, "")) for k in labels)
        groups.setdefault((agg.alertname, agg.store, extra),
                          AlertAggregate(agg.alertname, agg.store, dict(extra))).merge(agg)
    out = []
    for g in groups.values():
        out.append(Pattern(
            alertname=g.alertname, store=g.store, labels=g.labels, occurrences=g.occurrences,
            days=len(g.days),
            # exact: the summed microseconds over the count, rounded once
            mean_duration_seconds=(g.duration_us / (g.resolved * 1_000_000) if g.resolved
                                   else None),
            first_seen=g.first_seen or "", last_seen=g.last_seen or "",
            severities=dict(sorted(g.severities.items()))))
    return sorted(out, key=lambda p: p.key)


def patterns(alerts: list[AlertRecord], labels: tuple[str, ...] = (),
             archived: Iterable[AlertAggregate] = ()) -> list[Pattern]:
    """The patterns of these occurrences; the `archived` aggregates of pruned occurrences
    count as if those were still stored."""
    return group([*fold(alerts).values(), *archived], labels)


@dataclass
class KnowledgeBase:
    """Turns alert history into entries with the spec's runbooks."""

    spec: Spec | None = None
    min_days: int = 3
    labels: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, spec: Spec) -> KnowledgeBase:
        c = spec.consolidator
        return cls(spec=spec, min_days=c.pattern_min_days, labels=c.pattern_labels)

    def stores(self) -> list[str]:
        """The spec's store names (none without a spec)."""
        return [s.name for s in self.spec.stores] if self.spec else []

    def _overrides(self, alertname: str, store: str) -> list[AlertOverride]:
        """The store's override, then the spec's alerts.rules override, where given."""
        if self.spec is None:
            return []
        try:
            per_store = self.spec.store(store).alerts.get(alertname)
        except KeyError:
            per_store = None
        return [o for o in (per_store, self.spec.alerts.rules.get(alertname)) if o]

    def _severity(self, p: Pattern) -> str:
        for o in self._overrides(p.alertname, p.store):
            if o.severity is not None:
                return o.severity
        if p.alertname in BY_NAME:
            return BY_NAME[p.alertname].severity
        seen = [s for s in SEVERITIES if s in p.severities]
        return seen[0] if seen else "unknown"

    def entry(self, p: Pattern) -> Entry:
        books: list[Runbook] = [o.runbook for o in self._overrides(p.alertname, p.store)
                                if o.runbook is not None]
        known = BY_NAME.get(p.alertname)

        def first(attr: str, default: Any) -> Any:
            for book in books:
                value = getattr(book, attr)
                if value:
                    return value
            return default

        default_title = (known.summary.replace("{store}", p.store).replace(
            "{threshold_pct}", "the threshold") if known else p.alertname)
        return Entry(
            key=p.key, title=first("title", default_title),
            category=first("category", known.component if known else "other"),
            severity=self._severity(p), solution=first("solution", known.solution if known
                                                         else ""),
            steps=tuple(first("steps", ())), tags=tuple(first("tags", (p.alertname,))),
            pattern=p)

    def recurring(self, found: list[Pattern]) -> list[Entry]:
        """The entries of the patterns seen on min_days days or more."""
        return [self.entry(p) for p in found if p.days >= self.min_days]

    def entries(self, alerts: list[AlertRecord],
                archived: Iterable[AlertAggregate] = ()) -> list[Entry]:
        return self.recurring(patterns(alerts, self.labels, archived))


_WORD = re.compile(r"[\w.-]+")


def search(entries: list[Entry], query: str, limit: int = 20) -> list[Entry]:
    """Entries matching any word of the query, the most words matched first, then the most
    frequent."""
    terms = {t for t in _WORD.findall(query.lower()) if t}
    scored = []
    for e in entries:
        text = e.text()
        score = sum(1 for t in terms if t in text)
        if score:
            scored.append((-score, -e.pattern.occurrences, e.key, e))
    return [e for *_, e in sorted(scored, key=lambda s: s[:3])][:limit]
