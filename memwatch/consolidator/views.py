"""The answers built on the whole alert history: the knowledge base and the page, the
trends and the historical answer beside it. They come from the repository's per-series
aggregates and the archive, the daily rows and bounded reads of the recent alerts and the
window's snapshots, never from every alert, are computed once per storage revision
(Repository.revision) and then served from memory, on the event loop, until a write
changes the revision; those that show "now" (the page, the historical answer: durations,
today so far, the snapshots, which move no revision) also at most once a minute."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.concurrency import run_in_threadpool

from memwatch.consolidator.history import (
    RECENT_LIMIT,
    History,
    Inputs,
    StoreDay,
    build,
    day_start,
    recent_since,
)
from memwatch.consolidator.knowledge import Entry, KnowledgeBase, Pattern, group, search
from memwatch.consolidator.models import (
    AllTrends,
    Historical,
    HistoricalAlerts,
    HistoricalCounts,
    HistoricalDay,
    HistoricalStore,
    KnowledgeEntryModel,
    KnowledgeExport,
    KnowledgeResults,
    KnowledgeSummary,
    PatternModel,
    TrendDay,
    Trends,
)
from memwatch.consolidator.page import minute
from memwatch.consolidator.page import render as render_page
from memwatch.consolidator.records import AlertAggregate, DailyRow, iso
from memwatch.consolidator.storage.base import Repository
from memwatch.spec.monitoring import AlertsSection


@dataclass(frozen=True)
class Knowledge:
    """The knowledge base at one revision of the storage."""

    revision: int
    series: list[AlertAggregate]  # the stored alerts' and the archive's
    patterns: list[Pattern]
    entries: list[Entry]


def trend_day(r: DailyRow) -> TrendDay:
    return TrendDay(fired_total=r.fired_total,
                    **{k: v for k, v in vars(r).items() if k != "store"})


def historical(h: History) -> Historical:
    """The History as GET /api/persistence/historical answers it."""
    def day(d: StoreDay) -> HistoricalDay:
        r = d.row
        return HistoricalDay(
            day=r.day, partial=d.partial, counts=HistoricalCounts(
                min=r.count_min, max=r.count_max, mean=r.count_mean, last=r.count_last,
                net_change=r.net_change, largest_drop=r.largest_drop,
                uptime_ratio=r.uptime_ratio, snapshots=r.snapshots, gaps=r.gaps),
            alerts=HistoricalAlerts(fired=r.fired, fired_total=r.fired_total,
                                    seconds_in_alert=r.alert_seconds,
                                    alertnames=list(d.alertnames)))
    return Historical(
        generated_at=h.now.strftime("%Y-%m-%dT%H:%M:%SZ"), days=h.days,
        first_day=h.first.isoformat(), last_day=h.today.isoformat(),
        last_consolidated_day=h.last_day,
        stores=[HistoricalStore(store=s.store, days=[day(d) for d in s.days])
                for s in h.stores])


Stamp = tuple[int, int]  # the revision, and the minute for the answers that show "now"


class Memo:
    """Rendered answers of the newest stamp seen, by request parameters. `get` takes no
    lock (one attribute read), so the event loop never waits for a thread computing."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._state: tuple[Stamp, dict[Hashable, bytes]] = ((-1, -1), {})

    def get(self, revision: Stamp, key: Hashable) -> bytes | None:
        rev, answers = self._state
        return answers.get(key) if rev == revision else None

    def put(self, revision: Stamp, key: Hashable, value: bytes) -> None:
        with self._lock:
            rev, answers = self._state
            if revision > rev:
                self._state = (revision, {key: value})
            elif revision == rev:
                if key not in answers and len(answers) >= self._limit:
                    answers.pop(next(iter(answers)))  # the oldest
                answers[key] = value


class Views:
    """The async methods answer from the memo, or compute in a worker thread; the rest run
    in worker threads (they may query the storage)."""

    def __init__(self, repo: Repository, kb: KnowledgeBase, memo_limit: int = 256,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.repo, self.kb, self.clock = repo, kb, clock
        self._lock = threading.Lock()
        self._current: Knowledge | None = None
        self._memo = Memo(memo_limit)
        self._timed = Memo(memo_limit)  # a new minute drops the last minute's answers
        self._pending: dict[tuple[Stamp, Hashable], asyncio.Future[bytes]] = {}

    def knowledge(self, revision: int | None = None) -> Knowledge:
        """The knowledge at `revision` (default: the current one). Computed by one thread at
        a time: those asking meanwhile wait for it and take its result."""
        rev = self.repo.revision() if revision is None else revision
        with self._lock:
            if self._current is None or self._current.revision != rev:
                series = [*self.repo.alert_series(), *self.repo.alert_archive()]
                found = group(series, self.kb.labels)
                self._current = Knowledge(rev, series, found, self.kb.recurring(found))
            return self._current

    async def _answer(self, key: Hashable, render: Callable[[int], bytes],
                      now: datetime | None = None) -> bytes:
        """From the memo; else rendered once in a worker thread for all who ask meanwhile
        (on the event loop: `_pending` needs no lock). An answer that shows `now` is kept
        for its minute only."""
        rev = self.repo.revision()
        memo, stamp = (self._memo, (rev, 0)) if now is None else (self._timed,
                                                                    (rev, minute(now)))
        found = memo.get(stamp, key)
        if found is not None:
            return found
        pending = self._pending.get((stamp, key))
        if pending is None:
            pending = asyncio.ensure_future(run_in_threadpool(render, rev))
            self._pending[(stamp, key)] = pending
            pending.add_done_callback(lambda _: self._pending.pop((stamp, key), None))
        found = await asyncio.shield(pending)
        memo.put(stamp, key, found)
        return found

    async def summary(self) -> bytes:
        return await self._answer(("summary",), self._summary)

    def _summary(self, revision: int) -> bytes:
        k = self.knowledge(revision)
        found = [KnowledgeEntryModel(**e.as_json()) for e in k.entries]
        return KnowledgeSummary(
            entries=len(found), patterns=len(k.patterns), min_days=self.kb.min_days,
            by_category=dict(sorted(Counter(e.category for e in found).items())),
            by_severity=dict(sorted(Counter(e.severity for e in found).items())),
            most_frequent=sorted(found, key=lambda e: (-e.occurrences, e.key))[:5],
        ).model_dump_json().encode()

    async def query(self, text: str, limit: int) -> bytes:
        def render(revision: int) -> bytes:
            found = search(self.knowledge(revision).entries, text, limit)
            return KnowledgeResults(query=text, results=[
                KnowledgeEntryModel(**e.as_json()) for e in found]).model_dump_json().encode()
        return await self._answer(("query", text, limit), render)

    def export(self) -> KnowledgeExport:
        k = self.knowledge()
        return KnowledgeExport(
            version=1, generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            min_days=self.kb.min_days,
            entries=[KnowledgeEntryModel(**e.as_json()) for e in k.entries],
            patterns=[PatternModel(key=p.key, **vars(p)) for p in k.patterns])

    def history(self, revision: int, days: int, now: datetime) -> History:
        """The window of `days` days to `now`: five bounded reads (see history.py)."""
        last = self.repo.last_day()
        first = day_start(now.astimezone(UTC).date() - timedelta(days=days - 1))
        return build(now, days, Inputs(
            daily=self.repo.daily(), last_day=last,
            recent=self.repo.recent_alerts(recent_since(now, last), RECENT_LIMIT),
            snapshots=self.repo.snapshots(since=iso(first)),
            series=self.knowledge(revision).series, stores=self.kb.stores()))

    def runbook_base(self) -> str:
        """The spec's alerts.runbook_url (what gen-monitoring links every rule to)."""
        spec = self.kb.spec
        return spec.alerts.runbook_url if spec else str(
            AlertsSection.model_fields["runbook_url"].default)

    async def page(self, days: int, refresh: int = 30) -> bytes:
        now = self.clock()

        def render(revision: int) -> bytes:
            return render_page(self.history(revision, days, now),
                               self.knowledge(revision).entries,
                               runbook_base=self.runbook_base(), refresh=refresh,
                               min_days=self.kb.min_days).encode()
        return await self._answer(("page", days, refresh), render, now)

    async def historical(self, days: int) -> bytes:
        now = self.clock()

        def render(revision: int) -> bytes:
            return historical(self.history(revision, days, now)).model_dump_json().encode()
        return await self._answer(("historical", days), render, now)

    async def trends(self, store: str | None, days: int) -> bytes:
        """One store's consolidated days; without `store`, every store's (the spec's and
        those with daily rows)."""
        def render(revision: int) -> bytes:
            if store is not None:
                rows = self.repo.daily(store)[-days:]
                return Trends(store=store, days=[trend_day(r) for r in rows]
                              ).model_dump_json().encode()
            by_store: dict[str, list[DailyRow]] = {s: [] for s in self.kb.stores()}
            for r in self.repo.daily():
                by_store.setdefault(r.store, []).append(r)
            return AllTrends(stores=[
                Trends(store=s, days=[trend_day(r) for r in rows[-days:]])
                for s, rows in sorted(by_store.items())]).model_dump_json().encode()
        return await self._answer(("trends", store, days), render)


class StorageWatch:
    """Pings the storage every `interval` seconds on a thread of its own, so that /health
    answers from memory at once, also while the storage hangs: reachable means the last
    ping succeeded within `stale_after` seconds."""

    def __init__(self, repo: Repository, interval: float = 0.5,
                 stale_after: float = 3.0) -> None:
        self.repo, self.interval, self.stale_after = repo, interval, stale_after
        self._last_ok: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        ok = self.repo.ping()
        if ok:
            self._last_ok = time.monotonic()
        return ok

    def reachable(self) -> bool:
        return self._last_ok is not None and time.monotonic() - self._last_ok < self.stale_after

    def start(self) -> None:
        self.check()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="storage-watch")
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.check():
                    self._last_ok = None
            except Exception:  # a storage error is what this reports
                self._last_ok = None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
