"""Scrape-time collection: one runner per store, a timeout each, results turned into
fresh metric families on every scrape (the prometheus_client custom-collector pattern)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from memwatch import __version__, metrics
from memwatch.backends.base import Backend, Observation
from memwatch.backends.files import FilesChecker
from memwatch.errors import REASONS, CollectionError, Reason
from memwatch.integrity import INTEGRITY_FEATURES, IntegrityRunner
from memwatch.namespaces import NamespaceTracker
from memwatch.secrets import redact
from memwatch.spec import StoreBase

log = logging.getLogger("memwatch.collector")

# Time the runner waits beyond the store's timeout for the backend to honour it itself
# (statement_timeout, sqlite interrupt) before it gives up on the worker thread.
GRACE_SECONDS = 0.5


@dataclass
class Result:
    up: bool
    duration: float
    finished_at: float  # wall clock, for memwatch_last_success_timestamp_seconds
    finished_mono: float
    obs: Observation | None = None
    reason: Reason | None = None
    drop_ratio: float | None = None


@dataclass
class _Attempt:
    future: Future[Result]
    started_mono: float
    committed: bool = False
    timed_out: bool = False


@dataclass
class StoreRunner:
    """Collects one store; shares an in-flight collection between concurrent scrapes."""

    store: StoreBase
    backend: Backend
    files: FilesChecker
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    recreations: int = 0
    last: Result | None = None
    last_success_at: float | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"store-{self.store.name}")
        self._attempt: _Attempt | None = None
        self._prev_count: float | None = None
        self._identity: str | None = None
        self.namespaces = NamespaceTracker(self.store.max_namespaces)
        checks_integrity = self.store.capabilities().features & INTEGRITY_FEATURES
        self.integrity = IntegrityRunner(
            self.store.name, self.backend, self.store.integrity_interval,
            self.store.integrity_timeout or self.store.timeout) if (
            checks_integrity and self.store.integrity_interval > 0) else None

    @property
    def name(self) -> str:
        return self.store.name

    # -- the worker side ---------------------------------------------------------------
    def _run(self, attempt_box: list[_Attempt]) -> Result:
        start = time.monotonic()
        obs: Observation | None = None
        reason: Reason | None = None
        try:
            self.backend.watch = self.namespaces.watch()
            obs = self.backend.collect()
            self.files.observe(obs)
        except CollectionError as exc:
            reason = exc.reason
            log.warning("collection failed", extra={"store": self.name, "reason": reason,
                                                    "error": redact(str(exc))})
        except Exception as exc:  # a bug or an unclassified driver error: count, don't die
            reason = "internal"
            log.exception("collection failed", extra={"store": self.name, "reason": reason,
                                                      "error": redact(str(exc))})
        end = time.monotonic()
        result = Result(up=reason is None, duration=end - start, finished_at=time.time(),
                        finished_mono=end, obs=obs, reason=reason)
        with self._lock:
            attempt = attempt_box[0]
            if attempt.timed_out:
                return result  # already reported as a timeout; a late answer is dropped
            attempt.committed = True
            self._commit(result)
        return result

    def _commit(self, result: Result) -> None:
        """Update state from a finished collection (called with the lock held)."""
        if result.reason is not None:
            self.errors[result.reason] += 1
        elif result.obs is not None:
            if result.obs.namespaces is not None:
                result.obs.namespaces = self.namespaces.apply(result.obs.namespaces,
                                                              result.obs.namespace_counts)
            count = result.obs.memories
            if count is not None:
                prev = self._prev_count
                result.drop_ratio = (prev - count) / prev if prev and count < prev else 0.0
                self._prev_count = count
            ident = result.obs.identity
            if ident is not None and self._identity is not None and ident != self._identity:
                self.recreations += 1
                log.warning("memory table recreated", extra={"store": self.name})
            if ident is not None:
                self._identity = ident
            self.last_success_at = result.finished_at
        self.last = result

    # -- the scrape side ---------------------------------------------------------------
    def begin(self) -> _Attempt | Result:
        """Start (or join) a collection, or return a cached result under min_interval."""
        if self.integrity is not None:
            self.integrity.maybe_start()  # never waited for: its last result is served
        with self._lock:
            now = time.monotonic()
            last = self.last
            if (self.store.min_interval > 0 and last is not None and last.up
                    and now - last.finished_mono < self.store.min_interval):
                return last
            att = self._attempt
            if att is not None and not att.future.done():
                if not att.timed_out:
                    return att  # a concurrent scrape started it: share the answer
                # The previous collection is stuck past its timeout: do not queue another
                # behind it on this store's single worker; report the timeout again.
                return self._timeout_result(att)
            box: list[_Attempt] = []
            att = _Attempt(self._executor.submit(self._run, box), now)
            box.append(att)
            self._attempt = att
            return att

    def _timeout_result(self, att: _Attempt) -> Result:
        now = time.monotonic()
        att.timed_out = True
        result = Result(up=False, duration=now - att.started_mono, finished_at=time.time(),
                        finished_mono=now, reason="timeout")
        self._commit(result)
        return result

    def finish(self, pending: _Attempt | Result) -> Result:
        if isinstance(pending, Result):
            return pending
        deadline = pending.started_mono + self.store.timeout + GRACE_SECONDS
        try:
            return pending.future.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            pass
        with self._lock:
            if pending.committed:
                late = True
            else:
                late = False
                if pending.timed_out:  # a concurrent scrape already reported it
                    assert self.last is not None
                    return self.last
                result = self._timeout_result(pending)
        if late:
            return pending.future.result()
        log.warning("collection timed out", extra={"store": self.name,
                                                   "timeout": self.store.timeout})
        self.backend.cancel()
        return result

    def close(self) -> None:
        self.backend.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self.integrity is not None:
            self.integrity.close()
        self.backend.close()


MetricFamily = GaugeMetricFamily | CounterMetricFamily


def _gauge(d: metrics.MetricDef, help_suffix: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(d.name, d.help + help_suffix, labels=list(d.labels))


def _counter(d: metrics.MetricDef) -> CounterMetricFamily:
    return CounterMetricFamily(d.name, d.help, labels=list(d.labels))


class MemwatchCollector(Collector):
    """Collects every store concurrently on each scrape."""

    def __init__(self, runners: Sequence[StoreRunner]) -> None:
        self.reload_state = ReloadState(success_at=time.time())  # loaded at the start
        self.set_runners(runners)

    def set_runners(self, runners: Sequence[StoreRunner]) -> None:
        """The stores to collect from the next scrape on (a reload); one in flight keeps
        the list it started with."""
        cached = [r.name for r in runners if r.store.min_interval > 0]
        self._cache_note = (
            f" Stores {', '.join(cached)} serve their last successful result for up to "
            "their min_interval (see memwatch_last_success_timestamp_seconds)."
            if cached else ""
        )
        self.runners = list(runners)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.runners]

    def describe(self) -> Iterable[Metric]:
        return []  # no collection at registration time

    def collect(self) -> Iterator[Metric]:
        yield from self.collect_stores(None)

    def collect_stores(self, names: Collection[str] | None) -> Iterator[Metric]:
        """Collect the stores named (every store for None) concurrently: their families."""
        runners = [r for r in self.runners if names is None or r.name in names]
        pending = [(r, r.begin()) for r in runners]
        results = [(r, r.finish(p)) for r, p in pending]
        yield from self.families(results)

    def only(self, names: Collection[str]) -> CollectorRegistry:
        """A registry that collects only these stores (`/probe?store=NAME`), made per
        request: the runners, their caches and counters stay this collector's."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Only(self, frozenset(names)))
        return registry

    def families(self, results: Iterable[tuple[StoreRunner, Result]]) -> Iterator[Metric]:
        note = self._cache_note
        fam: dict[str, MetricFamily] = {
            d.name: _gauge(d, note if d.name not in (metrics.UP.name, metrics.DURATION.name,
                                                     metrics.LAST_SUCCESS.name) else "")
            for d in metrics.CONTRACT if d.type == "gauge" and d not in _EXPORTER_SERIES
        }
        # counters a backend keeps itself and reports with Observation.add (recounts)
        fam.update({d.name: _counter(d) for d in metrics.CONTRACT
                    if d.type == "counter" and d not in (metrics.ERRORS, metrics.RECREATIONS)})
        errors, recreations = _counter(metrics.ERRORS), _counter(metrics.RECREATIONS)
        for runner, res in results:
            s = runner.name
            fam[metrics.UP.name].add_metric([s, runner.backend.kind], 1.0 if res.up else 0.0)
            fam[metrics.DURATION.name].add_metric([s], res.duration)
            if runner.last_success_at is not None:
                fam[metrics.LAST_SUCCESS.name].add_metric([s], runner.last_success_at)
            for reason, count in runner.errors.items():
                errors.add_metric([s, reason], count)
            if runner.backend.tracks_identity:
                recreations.add_metric([s], runner.recreations)
            if runner.integrity is not None:
                _integrity_series(fam, s, runner.integrity, res.up)
            if res.up and res.obs is not None:
                _observed_series(fam, s, res)
            # else no stale values: a failed store shows up=0 and its errors only
        build = _gauge(metrics.BUILD_INFO)
        build.add_metric([__version__], 1.0)
        yield build
        yield from _reload_series(self.reload_state)
        yield from (f for f in fam.values() if f.samples)
        yield errors
        if recreations.samples:
            yield recreations


class _Only(Collector):
    def __init__(self, collector: MemwatchCollector, names: frozenset[str]) -> None:
        self.collector, self.names = collector, names

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self.collector.collect_stores(self.names)


# not per store
_EXPORTER_SERIES = (metrics.BUILD_INFO, metrics.RELOAD_SUCCESSFUL, metrics.RELOAD_SUCCESS_TIME)


@dataclass
class ReloadState:
    """What `memwatch_config_last_reload_*` report (memwatch/reload.py keeps it)."""

    successful: bool = True
    success_at: float | None = None  # wall clock; the start counts as a success


def _reload_series(state: ReloadState) -> Iterator[Metric]:
    ok = _gauge(metrics.RELOAD_SUCCESSFUL)
    ok.add_metric([], 1.0 if state.successful else 0.0)
    yield ok
    if state.success_at is not None:
        at = _gauge(metrics.RELOAD_SUCCESS_TIME)
        at.add_metric([], state.success_at)
        yield at


def _observed_series(fam: Mapping[str, MetricFamily], s: str, res: Result) -> None:
    obs = res.obs
    assert obs is not None
    if obs.memories is not None:
        fam[metrics.STORE_MEMORIES.name].add_metric([s], obs.memories)
        fam[metrics.DROP_RATIO.name].add_metric([s], res.drop_ratio or 0.0)
    for ns, n in (obs.namespaces or {}).items():
        fam[metrics.MEMORIES.name].add_metric([s, ns], n)
    if obs.newest_timestamp is not None:
        fam[metrics.NEWEST.name].add_metric([s], obs.newest_timestamp)
    if obs.size_bytes is not None:
        fam[metrics.SIZE.name].add_metric([s], obs.size_bytes)
    for stage, n in obs.backlog.items():
        fam[metrics.BACKLOG.name].add_metric([s, stage], n)
    for stage, ts in obs.backlog_oldest.items():
        fam[metrics.BACKLOG_OLDEST.name].add_metric([s, stage], ts)
    _extra(fam, s, obs)


def _extra(fam: Mapping[str, MetricFamily], s: str, obs: Observation) -> None:
    for name, labels, value in obs.extra:
        d = metrics.BY_NAME[name]
        fam[name].add_metric([s, *(labels[k] for k in d.labels[1:])], value)


def _integrity_series(fam: Mapping[str, MetricFamily], s: str, run: IntegrityRunner,
                      up: bool) -> None:
    """The last successful integrity pass, while the store is up (no stale values for a
    store that cannot be reached), and the pass's own health always."""
    with run.lock:
        last, at, duration = run.last, run.last_success_at, run.duration
        errors = dict(run.errors)
    for reason, count in errors.items():
        fam[metrics.INTEGRITY_ERRORS.name].add_metric([s, reason], count)
    if at is not None:
        fam[metrics.INTEGRITY_LAST_SUCCESS.name].add_metric([s], at)
    if duration is not None:
        fam[metrics.INTEGRITY_DURATION.name].add_metric([s], duration)
    if up and last is not None:
        _extra(fam, s, last)
