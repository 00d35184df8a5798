"""The answers built on the whole alert history: the knowledge base and the page and
trends beside it. They come from the repository's per-series aggregates and the archive,
never from every alert, are computed once per storage revision (Repository.revision) and
then served from memory, on the event loop, until a write changes the revision."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool

from memwatch.consolidator.daily import DailyRow
from memwatch.consolidator.knowledge import Entry, KnowledgeBase, Pattern, group, search
from memwatch.consolidator.models import (
    KnowledgeEntryModel,
    KnowledgeExport,
    KnowledgeResults,
    KnowledgeSummary,
    PatternModel,
    TrendDay,
    Trends,
)
from memwatch.consolidator.page import render as render_page
from memwatch.consolidator.repository import Repository


@dataclass(frozen=True)
class Knowledge:
    """The knowledge base at one revision of the storage."""

    revision: int
    patterns: list[Pattern]
    entries: list[Entry]


def trend_day(r: DailyRow) -> TrendDay:
    return TrendDay(fired_total=r.fired_total,
                    **{k: v for k, v in vars(r).items() if k != "store"})


class Memo:
    """Rendered answers of the newest revision seen, by request parameters. `get` takes no
    lock (one attribute read), so the event loop never waits for a thread computing."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._state: tuple[int, dict[Hashable, bytes]] = (-1, {})

    def get(self, revision: int, key: Hashable) -> bytes | None:
        rev, answers = self._state
        return answers.get(key) if rev == revision else None

    def put(self, revision: int, key: Hashable, value: bytes) -> None:
        with self._lock:
            rev, answers = self._state
            if revision > rev:
                self._state = (revision, {key: value})
            elif revision == rev and len(answers) < self._limit:
                answers[key] = value  # past the limit: computed on every request


class Views:
    """The async methods answer from the memo, or compute in a worker thread; the rest run
    in worker threads (they may query the storage)."""

    def __init__(self, repo: Repository, kb: KnowledgeBase, memo_limit: int = 256) -> None:
        self.repo, self.kb = repo, kb
        self._lock = threading.Lock()
        self._current: Knowledge | None = None
        self._memo = Memo(memo_limit)
        self._pending: dict[tuple[int, Hashable], asyncio.Future[bytes]] = {}

    def knowledge(self, revision: int | None = None) -> Knowledge:
        """The knowledge at `revision` (default: the current one). Computed by one thread at
        a time: those asking meanwhile wait for it and take its result."""
        rev = self.repo.revision() if revision is None else revision
        with self._lock:
            if self._current is None or self._current.revision != rev:
                found = group([*self.repo.alert_series(), *self.repo.alert_archive()],
                              self.kb.labels)
                self._current = Knowledge(rev, found, self.kb.recurring(found))
            return self._current

    async def _answer(self, key: Hashable, render: Callable[[int], bytes]) -> bytes:
        """From the memo; else rendered once in a worker thread for all who ask meanwhile
        (on the event loop: `_pending` needs no lock)."""
        rev = self.repo.revision()
        found = self._memo.get(rev, key)
        if found is not None:
            return found
        pending = self._pending.get((rev, key))
        if pending is None:
            pending = asyncio.ensure_future(run_in_threadpool(render, rev))
            self._pending[(rev, key)] = pending
            pending.add_done_callback(lambda _: self._pending.pop((rev, key), None))
        found = await asyncio.shield(pending)
        self._memo.put(rev, key, found)
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

    async def page(self, days: int) -> bytes:
        def render(revision: int) -> bytes:
            rows: dict[str, list[DailyRow]] = {s: [] for s in self.kb.stores()}
            for r in self.repo.daily():
                rows.setdefault(r.store, []).append(r)
            return render_page({s: v[-days:] for s, v in rows.items()},
                               self.knowledge(revision).entries).encode()
        return await self._answer(("page", days), render)

    async def trends(self, store: str, days: int) -> bytes:
        def render(revision: int) -> bytes:
            rows = self.repo.daily(store)[-days:]
            return Trends(store=store, days=[trend_day(r) for r in rows]
                          ).model_dump_json().encode()
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
