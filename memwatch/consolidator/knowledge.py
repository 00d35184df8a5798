"""The knowledge base: alerts grouped into patterns; recurring patterns become entries.

A pattern is every occurrence of one alertname on one store (plus the labels the spec's
`consolidator.pattern_labels` names). A pattern seen on `pattern_min_days` distinct UTC days
or more becomes an entry carrying the runbook: the store's override, else the spec's
`alerts.rules` override, else the catalogue's default (field by field).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from memwatch.catalogue import BY_NAME, SEVERITIES
from memwatch.consolidator.repository import AlertRecord
from memwatch.spec import Spec
from memwatch.spec_monitoring import AlertOverride, Runbook


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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


def patterns(alerts: list[AlertRecord], labels: tuple[str, ...] = ()) -> list[Pattern]:
    """Group occurrences by alertname + store + the named labels, sorted by key."""
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[AlertRecord]] = {}
    for a in alerts:
        extra = tuple((name, a.labels.get(name, "")) for name in labels)
        groups.setdefault((a.alertname, a.store, extra), []).append(a)
    out = []
    for (name, store, extra), group in groups.items():
        durations = [(parse_iso(a.resolved_at) - parse_iso(a.starts_at)).total_seconds()
                     for a in group if a.resolved_at is not None]
        starts = sorted(a.starts_at for a in group)
        out.append(Pattern(
            alertname=name, store=store, labels=dict(extra), occurrences=len(group),
            days=len({s[:10] for s in starts}),
            mean_duration_seconds=sum(durations) / len(durations) if durations else None,
            first_seen=starts[0], last_seen=starts[-1],
            severities=dict(sorted(Counter(a.severity for a in group).items()))))
    return sorted(out, key=lambda p: p.key)


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

    def entries(self, alerts: list[AlertRecord]) -> list[Entry]:
        return [self.entry(p) for p in patterns(alerts, self.labels) if p.days >= self.min_days]


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
