"""Every alert rule the spec asks for, with the scenarios that prove it.

Each rule carries its own promtool scenarios: input series that make it fire exactly at its
threshold once `for` has passed (and be merely pending a minute before), and series just
below the threshold under which it stays silent. rules.py writes the rules and
ruletests.py the tests from the same objects, so a rule and its proof cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from memwatch.catalogue import BY_NAME, AlertDef, Severity
from memwatch.generators.humanize import FORMATS
from memwatch.generators.output import go_duration
from memwatch.spec import Spec
from memwatch.spec_monitoring import AlertOverride, Runbook
from memwatch.spec_types import parse_duration

STEP = 60  # seconds between samples in the scenarios (promtool `interval`)
EXPORTER_INSTANCE = "memwatch:9187"


class GenerationError(ValueError):
    """The spec is valid alone but asks for rules that cannot work; names the key."""


@dataclass(frozen=True)
class Series:
    metric: str
    labels: dict[str, str]
    values: tuple[float, ...]  # one sample per STEP from t=0

    @property
    def selector(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}"


@dataclass(frozen=True)
class Expected:
    labels: dict[str, str]
    annotations: dict[str, str]  # as they expand when the alert fires


@dataclass(frozen=True)
class Check:
    at: int  # seconds
    alerts: tuple[Expected, ...]


@dataclass(frozen=True)
class Scenario:
    name: str
    series: tuple[Series, ...]
    checks: tuple[Check, ...]


@dataclass
class AlertRule:
    alert: str
    group: str
    expr: str
    for_s: float
    labels: dict[str, str]
    summary: str
    description: str  # with {value} where the formatted $value goes
    value_format: str | None
    runbook_url: str
    scenarios: list[Scenario] = field(default_factory=list)
    runbook: Runbook | None = None

    def annotations(self, value: float | None = None) -> dict[str, str]:
        """The rule's annotations, or (with a value) the text they expand to."""
        if self.value_format is None:
            desc = self.description
        elif value is None:
            desc = self.description.replace("{value}", FORMATS[self.value_format][0])
        else:
            desc = self.description.replace("{value}", FORMATS[self.value_format][1](value))
        return {"summary": self.summary, "description": desc, "runbook_url": self.runbook_url}


@dataclass(frozen=True)
class Settings:
    enabled: bool
    severity: Severity
    for_s: float
    threshold: float | None
    window: float | None
    runbook: Runbook | None


def _settings(spec: Spec, name: str, store_overrides: dict[str, AlertOverride] | None = None
              ) -> Settings:
    base = BY_NAME[name]
    s = Settings(True, base.severity, base.for_seconds, base.threshold, base.window_seconds,
                 None)
    for ov in (spec.alerts.rules.get(name), (store_overrides or {}).get(name)):
        if ov is None:
            continue
        s = Settings(
            ov.enabled and s.enabled, ov.severity or s.severity,
            s.for_s if ov.for_ is None else ov.for_,
            s.threshold if ov.threshold is None else ov.threshold,
            s.window if ov.window is None else ov.window,
            ov.runbook or s.runbook)
    return s


def _ceil_step(t: float) -> int:
    return int(math.ceil(t / STEP) * STEP)


def _below(threshold: float) -> float:
    """A count just below the threshold."""
    return threshold - 1 if threshold >= 2 else threshold / 2


def _pct(r: float) -> str:
    return f"{r * 100:g}%"


class Builder:
    """Builds the rules for one spec."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.rules: list[AlertRule] = []

    # -- helpers ----------------------------------------------------------------------
    def _rule(self, alert: str, group: str, expr: str, st: Settings, by: dict[str, str],
              description: str, value_format: str | None, fmt: dict[str, str],
              extra_labels: dict[str, str] | None = None) -> AlertRule:
        d: AlertDef = BY_NAME[alert]
        fields = {"threshold_pct": _pct(st.threshold) if st.threshold is not None else "",
                  "instance": "{{ $labels.instance }}", **fmt}
        labels = {**self.spec.alerts.extra_labels, "severity": st.severity,
                  "component": d.component, **(extra_labels or {})}
        if "store" in fmt:  # the label set: severity, store, component
            labels["store"] = fmt["store"]
        if "check" in fmt:
            labels["check"] = fmt["check"]
        rule = AlertRule(
            alert=alert, group=group, expr=expr, for_s=st.for_s, labels=labels,
            summary=d.summary.format(**fields), description=description,
            value_format=value_format,
            runbook_url=f"{self.spec.alerts.runbook_url}#{alert.lower()}",
            runbook=st.runbook)
        self.rules.append(rule)
        return rule

    def _expected(self, rule: AlertRule, by: dict[str, str], value: float | None
                  ) -> Expected:
        labels = {**by, **rule.labels}

        def expand(text: str) -> str:
            return re.sub(r"\{\{ \$labels\.(\w+) \}\}",
                          lambda m: labels.get(m.group(1), ""), text)

        return Expected(labels, {k: expand(v) for k, v in rule.annotations(value).items()})

    def _level(self, rule: AlertRule, by: dict[str, str], fire: list[Series],
               fire_value: float | None, silent: list[Series]) -> None:
        """Scenarios for a rule whose condition depends on current values only."""
        end = _ceil_step(rule.for_s) + STEP
        n = end // STEP + 2
        fire_s = tuple(Series(s.metric, s.labels, s.values * n) for s in fire)
        silent_s = tuple(Series(s.metric, s.labels, s.values * n) for s in silent)
        checks = [Check(end, (self._expected(rule, by, fire_value),))]
        if rule.for_s >= STEP:
            checks.insert(0, Check(end - 2 * STEP, ()))  # still pending: `for` is honoured
        rule.scenarios += [Scenario("fires at the threshold", fire_s, tuple(checks)),
                           Scenario("silent just below", silent_s, (Check(end, ()),))]

    def _age(self, rule: AlertRule, by: dict[str, str], metric: str, labels: dict[str, str],
             limit: float) -> None:
        """Scenarios for `time() - <timestamp> >= limit`."""
        t_true = _ceil_step(limit)
        end = t_true + _ceil_step(rule.for_s) + STEP
        n = end // STEP + 1
        checks = [Check(end, (self._expected(rule, by, float(end)),))]
        if rule.for_s >= STEP:
            checks.insert(0, Check(end - 2 * STEP, ()))
        rule.scenarios += [
            Scenario("fires at the limit", (Series(metric, labels, (0.0,) * n),),
                     tuple(checks)),
            Scenario("silent just below", (Series(metric, labels, (end - limit + 1,) * n),),
                     (Check(end, ()),)),
        ]

    def _window_check(self, path: str, st: Settings) -> float:
        assert st.window is not None
        if st.window <= st.for_s + 2 * STEP:
            raise GenerationError(
                f"{path}: window ({go_duration(st.window)}) must be longer than for "
                f"({go_duration(st.for_s)}) plus 2m, or the alert cannot fire before the "
                "change leaves the window")
        return st.window

    # -- store alerts ---------------------------------------------------------------------
    def store_rules(self) -> None:
        for idx, store in enumerate(self.spec.stores):
            caps = capabilities(store)
            S = store.name
            group = f"memwatch-store-{S}"
            sel = f'{{store="{S}"}}'
            exp_labels = {"instance": EXPORTER_INSTANCE, "job": "memwatch", "store": S}
            by = {"store": S}
            path = f"stores[{idx}].alerts"

            def st(name: str, _overrides: dict[str, AlertOverride] = store.alerts
                   ) -> Settings:
                return _settings(self.spec, name, _overrides)

            count = f"max by (store) (memwatch_store_memories{sel})"
            s = st("MemoryDatabaseDown")
            if s.enabled:
                backend = caps.backend
                r = self._rule("MemoryDatabaseDown", group,
                               f"max by (store) (memwatch_up{sel}) == 0", s, by,
                               f"memwatch cannot collect from store {S} ({backend}): "
                               "memwatch_up has been 0 for " + go_duration(s.for_s) +
                               ". See memwatch_collection_errors_total for the reason.",
                               None, {"store": S})
                up_labels = {**exp_labels, "backend": backend}
                self._level(r, by, [Series("memwatch_up", up_labels, (0.0,))], None,
                            [Series("memwatch_up", up_labels, (1.0,))])
            if "count" in caps.features:
                self._count_rules(st, group, S, sel, count, by, exp_labels, store, path)
            if "freshness" in caps.features:
                s = st("MemoryIngestionStalled")
                limit = store.max_staleness or s.threshold or 3600.0
                if s.enabled:
                    r = self._rule(
                        "MemoryIngestionStalled", group,
                        f"time() - max by (store) (memwatch_newest_memory_timestamp_seconds"
                        f"{sel}) >= {limit:g}", s, by,
                        f"The newest memory in {S} is {{value}} old (limit "
                        f"{go_duration(limit)}): nothing new is being stored.",
                        "duration", {"store": S})
                    self._age(r, by, "memwatch_newest_memory_timestamp_seconds", exp_labels,
                              limit)
            if "backlog" in caps.features:
                self._backlog_rules(st, group, S, sel, exp_labels, caps)
            if "models" in caps.features:
                s = st("EmbeddingModelMixed")
                if s.enabled:
                    r = self._rule(
                        "EmbeddingModelMixed", group,
                        f"count by (store) (max by (store, model) (memwatch_embeddings{sel}) "
                        "> 0) >= 2", s, by,
                        f"Store {S} holds vectors of {{value}} embedding models: a provider "
                        "switch left them mixed, and similarity search across them is "
                        "meaningless.", "count", {"store": S})
                    a = {**exp_labels, "model": "text-embedding-3-small"}
                    b = {**exp_labels, "model": "nomic-embed-text"}
                    self._level(r, by, [Series("memwatch_embeddings", a, (5.0,)),
                                        Series("memwatch_embeddings", b, (5.0,))], 2.0,
                                [Series("memwatch_embeddings", a, (5.0,)),
                                 Series("memwatch_embeddings", b, (0.0,))])
            expected_dim = getattr(store, "expected_dimension", None)
            if "dimension" in caps.features and expected_dim:
                s = st("VectorDimensionMismatch")
                if s.enabled:
                    other = 768.0 if expected_dim != 768 else 1536.0
                    r = self._rule(
                        "VectorDimensionMismatch", group,
                        f"max by (store) (memwatch_vector_dimension{sel}) != max by (store) "
                        f"(memwatch_vector_dimension_expected{sel})", s, by,
                        f"Vectors in {S} have dimension {{value}}, the spec expects "
                        f"{expected_dim}: writes from the other model fail or are dropped.",
                        "count", {"store": S})
                    exp = Series("memwatch_vector_dimension_expected", exp_labels,
                                 (float(expected_dim),))
                    self._level(r, by, [Series("memwatch_vector_dimension", exp_labels,
                                               (other,)), exp], other,
                                [Series("memwatch_vector_dimension", exp_labels,
                                        (float(expected_dim),)), exp])
            if "size" in caps.features:
                self._growth_rule(st, group, S, sel, by, exp_labels, path)
            if "identity" in caps.features:
                self._recreated_rule(st, group, S, sel, by, exp_labels)
            history = getattr(store, "history_store", None)
            if history:
                self._unexplained_rule(st, group, S, sel, by, exp_labels, history, path)
            for check in store.files:
                if check.max_age is not None:
                    s = st("MemoryBackupStale")
                    if s.enabled:
                        cby = {"store": S, "check": check.name}
                        csel = f'{{check="{check.name}",store="{S}"}}'
                        r = self._rule(
                            "MemoryBackupStale", group,
                            f"time() - max by (store, check) "
                            f"(memwatch_files_newest_timestamp_seconds{csel}) >= "
                            f"{check.max_age:g}", s, cby,
                            f"The newest file matching {check.glob} is {{value}} old (limit "
                            f"{go_duration(check.max_age)}).", "duration",
                            {"store": S, "check": check.name})
                        self._age(r, cby, "memwatch_files_newest_timestamp_seconds",
                                  {**exp_labels, "check": check.name}, check.max_age)
            s = st("MemwatchCollectionsFailing")
            if s.enabled:
                self._steps_rule(
                    "MemwatchCollectionsFailing", s, group, by,
                    f"sum by (store) (memwatch_collection_errors_total{sel}) - sum by (store) "
                    f"(memwatch_collection_errors_total{sel} offset {{window}})",
                    f"{{value}} collections from {S} failed in the last {{window}}; see "
                    "memwatch_collection_errors_total's reason label.",
                    "memwatch_collection_errors_total", {**exp_labels, "reason": "timeout"},
                    {"store": S}, path)

    def _count_rules(self, st: Callable[[str], Settings], group: str, S: str, sel: str,
                     count: str, by: dict[str, str], exp_labels: dict[str, str],
                     store: object, path: str) -> None:
        s = st("MemoryCountZero")
        if s.enabled:
            r = self._rule("MemoryCountZero", group, f"{count} == 0", s, by,
                           f"Store {S} has held 0 memories for {go_duration(s.for_s)}: a "
                           "reset(), delete_all() or restore may have wiped it.", None,
                           {"store": S})
            self._level(r, by, [Series("memwatch_store_memories", exp_labels, (0.0,))], None,
                        [Series("memwatch_store_memories", exp_labels, (1.0,))])
        s = st("MemoryCountDropped")
        if s.enabled:
            assert s.threshold is not None
            window = self._window_check(f"{path}.MemoryCountDropped", s)
            w = go_duration(window)
            peak = f"max by (store) (max_over_time(memwatch_store_memories{sel}[{w}]))"
            r = self._rule("MemoryCountDropped", group,
                           f"({peak} - {count}) / {peak} >= {s.threshold:g}", s, by,
                           f"Store {S} holds {{value}} fewer memories than its peak of the "
                           f"last {w}.", "ratio", {"store": S})
            base = 10000.0
            after = math.floor(base * (1 - s.threshold))
            while (base - after) / base < s.threshold:
                after -= 1
            below = after + 1
            while (base - below) / base >= s.threshold:
                below += 1
            t_drop = _ceil_step(window)
            end = t_drop + _ceil_step(s.for_s) + STEP
            n_before, n_after = t_drop // STEP, (end - t_drop) // STEP + 1

            def series(v: float) -> tuple[Series, ...]:
                return (Series("memwatch_store_memories", exp_labels,
                               (base,) * n_before + (v,) * n_after),)

            checks = [Check(end, (self._expected(r, by, (base - after) / base),))]
            if s.for_s >= STEP:
                checks.insert(0, Check(end - 2 * STEP, ()))
            r.scenarios += [Scenario("fires at the threshold", series(after), tuple(checks)),
                            Scenario("silent just below", series(below), (Check(end, ()),))]
        baseline = getattr(store, "baseline", None)
        s = st("MemoryCountBelowBaseline")
        if baseline and s.enabled:
            r = self._rule("MemoryCountBelowBaseline", group, f"{count} < {baseline}", s, by,
                           f"Store {S} holds {{value}} memories, below its baseline of "
                           f"{baseline}.", "count", {"store": S})
            self._level(r, by, [Series("memwatch_store_memories", exp_labels,
                                       (float(baseline - 1),))], float(baseline - 1),
                        [Series("memwatch_store_memories", exp_labels, (float(baseline),))])

    def _backlog_rules(self, st: Callable[[str], Settings], group: str, S: str, sel: str,
                       exp_labels: dict[str, str], caps: Capabilities) -> None:
        stage = caps.backlog_stage
        s = st("MemoryBacklogStuck")
        if s.enabled:
            assert s.threshold is not None
            by = {"store": S, "stage": stage}
            r = self._rule(
                "MemoryBacklogStuck", group,
                f"time() - min by (store, stage) (memwatch_backlog_oldest_timestamp_seconds"
                f"{sel}) >= {s.threshold:g}", s, by,
                f"The oldest item waiting in stage {{{{ $labels.stage }}}} of {S} was "
                f"captured {{value}} ago (limit {go_duration(s.threshold)}).", "duration",
                {"store": S})
            self._age(r, by, "memwatch_backlog_oldest_timestamp_seconds",
                      {**exp_labels, "stage": stage}, s.threshold)
        s = st("MemoryBacklogGrowing")
        if s.enabled:
            self._steps_rule(
                "MemoryBacklogGrowing", s, group, {"store": S, "stage": stage},
                f"max by (store, stage) (memwatch_backlog{sel}) - max by (store, stage) "
                f"(memwatch_backlog{sel} offset {{window}})",
                f"The backlog of {S} grew by {{value}} items in {{window}}: ingestion is "
                "slower than capture.", "memwatch_backlog", {**exp_labels, "stage": stage},
                {"store": S}, f"alerts.{S}")

    def _steps_rule(self, alert: str, s: Settings, group: str, by: dict[str, str],
                    diff: str, description: str, metric: str, labels: dict[str, str],
                    fmt: dict[str, str], path: str) -> None:
        """`x - x offset window >= threshold`: x grows by `threshold` every window."""
        assert s.threshold is not None and s.window is not None
        w = go_duration(s.window)
        expr = f"{diff.replace('{window}', w)} >= {s.threshold:g}"
        r = self._rule(alert, group, expr, s, by, description.replace("{window}", w), "count",
                       fmt)
        window = s.window
        t_true = _ceil_step(window)
        end = t_true + _ceil_step(s.for_s) + STEP
        times = range(0, end + STEP, STEP)

        def series(step: float) -> tuple[Series, ...]:
            return (Series(metric, labels, tuple(step * (t // window) for t in times)),)

        checks = [Check(end, (self._expected(r, by, s.threshold),))]
        if s.for_s >= STEP:
            checks.insert(0, Check(end - 2 * STEP, ()))
        r.scenarios += [Scenario("fires at the threshold", series(s.threshold), tuple(checks)),
                        Scenario("silent just below", series(_below(s.threshold)),
                                 (Check(end, ()),))]

    def _growth_rule(self, st: Callable[[str], Settings], group: str, S: str, sel: str,
                     by: dict[str, str], exp_labels: dict[str, str], path: str) -> None:
        s = st("MemoryStoreGrowingAbnormally")
        if not s.enabled:
            return
        assert s.threshold is not None and s.window is not None
        w = go_duration(s.window)
        now = f"max by (store) (memwatch_store_size_bytes{sel})"
        then = f"max by (store) (memwatch_store_size_bytes{sel} offset {w})"
        r = self._rule("MemoryStoreGrowingAbnormally", group,
                       f"({now} - {then}) / {then} >= {s.threshold:g}", s, by,
                       f"Store {S} grew by {{value}} in {w}: look for a runaway writer.",
                       "ratio", {"store": S})
        window, threshold = int(s.window), s.threshold
        t_true = _ceil_step(window)
        end = t_true + _ceil_step(s.for_s) + STEP

        def levels(fire: bool) -> list[float]:
            """Size per window: each exactly (or just under) `threshold` above the last."""
            vals = [1_000_000.0]
            for _ in range(end // window + 1):
                prev = vals[-1]
                nxt = float(math.ceil(prev * (1 + threshold))) if fire else float(
                    math.floor(prev * (1 + threshold)))
                while fire and (nxt - prev) / prev < threshold:
                    nxt += 1
                while not fire and (nxt - prev) / prev >= threshold:
                    nxt -= 1
                vals.append(nxt)
            return vals

        def series(vals: list[float]) -> tuple[Series, ...]:
            return (Series("memwatch_store_size_bytes", exp_labels,
                           tuple(vals[t // window] for t in range(0, end + STEP, STEP))),)

        fire = levels(True)
        k = end // window
        checks = [Check(end, (self._expected(r, by, (fire[k] - fire[k - 1]) / fire[k - 1]),))]
        if s.for_s >= STEP:
            checks.insert(0, Check(end - 2 * STEP, ()))
        r.scenarios += [Scenario("fires at the threshold", series(fire), tuple(checks)),
                        Scenario("silent just below", series(levels(False)),
                                 (Check(end, ()),))]

    def _recreated_rule(self, st: Callable[[str], Settings], group: str, S: str, sel: str,
                        by: dict[str, str], exp_labels: dict[str, str]) -> None:
        s = st("MemoryTableRecreated")
        if not s.enabled:
            return
        window = s.window or 600.0
        w = go_duration(window)
        metric = "memwatch_table_recreations_total"
        r = self._rule("MemoryTableRecreated", group,
                       f"max by (store) ({metric}{sel}) - max by (store) ({metric}{sel} "
                       f"offset {w}) > 0", s, by,
                       f"The memory table of {S} was dropped and recreated in the last {w} "
                       "(its OID changed), as mem0's reset() does.", None, {"store": S})
        t_r = _ceil_step(window)
        end = t_r + _ceil_step(s.for_s) + STEP
        n = end // STEP + 1
        fired = tuple(0.0 if t < t_r else 1.0 for t in range(0, n * STEP, STEP))
        r.scenarios += [
            Scenario("fires when the table is recreated", (Series(metric, exp_labels, fired),),
                     (Check(end, (self._expected(r, by, None),)),)),
            Scenario("silent without recreation", (Series(metric, exp_labels, (0.0,) * n),),
                     (Check(end, ()),))]

    def _unexplained_rule(self, st: Callable[[str], Settings], group: str, S: str, sel: str,
                          by: dict[str, str], exp_labels: dict[str, str], history: str,
                          path: str) -> None:
        s = st("MemoryLossUnexplained")
        if not s.enabled:
            return
        assert s.threshold is not None
        window = self._window_check(f"{path}.MemoryLossUnexplained", s)
        w = go_duration(window)
        hsel = f'{{event="DELETE",store="{history}"}}'
        loss = (f"(max by (store) (max_over_time(memwatch_store_memories{sel}[{w}])) - "
                f"max by (store) (memwatch_store_memories{sel}))")
        deletes = (f"(max(memwatch_history_events{hsel}) - "
                   f"max(memwatch_history_events{hsel} offset {w}))")
        r = self._rule("MemoryLossUnexplained", group,
                       f"{loss} - on() {deletes} >= {s.threshold:g}", s, by,
                       f"{{value}} memories left {S} in the last {w} beyond the DELETE events "
                       f"recorded in {history}: suspect a reset() or an out-of-band delete.",
                       "count", {"store": S})
        t_d = _ceil_step(window)
        end = t_d + _ceil_step(s.for_s) + STEP
        times = range(0, end + STEP, STEP)
        recorded = 5.0
        hlabels = {"instance": EXPORTER_INSTANCE, "job": "memwatch", "store": history,
                   "event": "DELETE"}

        def series(unexplained: float) -> tuple[Series, ...]:
            return (
                Series("memwatch_store_memories", exp_labels, tuple(
                    1000.0 if t < t_d else 1000.0 - recorded - unexplained for t in times)),
                Series("memwatch_history_events", hlabels, tuple(
                    0.0 if t < t_d else recorded for t in times)),
            )

        checks = [Check(end, (self._expected(r, by, s.threshold),))]
        if s.for_s >= STEP:
            checks.insert(0, Check(end - 2 * STEP, ()))
        r.scenarios += [Scenario("fires at the threshold", series(s.threshold), tuple(checks)),
                        Scenario("silent just below", series(_below(s.threshold)),
                                 (Check(end, ()),))]

    # -- exporter and RAM ---------------------------------------------------------------
    def exporter_rules(self) -> None:
        s = _settings(self.spec, "MemwatchExporterDown")
        if not s.enabled:
            return
        seen: set[str] = set()
        for job, instance in exporter_jobs(self.spec):
            # One rule per job (it fires per instance); its test uses the job's first target.
            if job in seen:
                continue
            seen.add(job)
            by = {"instance": instance, "job": job}
            r = self._rule("MemwatchExporterDown", "memwatch-exporter",
                           f'up{{job="{job}"}} == 0', s, by,
                           f"Prometheus cannot scrape the memwatch exporter (job {job}): no "
                           "store behind it is being watched.", None, {})
            self._level(r, by, [Series("up", by, (0.0,))], None, [Series("up", by, (1.0,))])

    def ram_rules(self) -> None:
        ram = self.spec.alerts.ram
        horizon, window = ram.predict_horizon, go_duration(ram.predict_window)
        if ram.host:
            job = ram.node_job
            by = {"instance": "node:9100", "job": job}
            s = _settings(self.spec, "HostMemoryUsageHigh")
            if s.enabled:
                total = 17_179_869_184.0
                usage = (f'1 - (node_memory_MemAvailable_bytes{{job="{job}"}} / '
                         f'node_memory_MemTotal_bytes{{job="{job}"}})')
                self._tiers("HostMemoryUsageHigh", "memwatch-ram-host", usage, by, total,
                            lambda used: [Series("node_memory_MemAvailable_bytes", by,
                                                 (total - used,)),
                                          Series("node_memory_MemTotal_bytes", by, (total,))],
                            lambda used: 1 - (total - used) / total, {})
            s = _settings(self.spec, "HostMemoryExhaustionPredicted")
            if s.enabled:
                r = self._rule(
                    "HostMemoryExhaustionPredicted", "memwatch-ram-host",
                    f'predict_linear(node_memory_MemAvailable_bytes{{job="{job}"}}[{window}], '
                    f"{horizon:g}) <= 0", s, by,
                    f"At the rate of the last {window}, available memory on "
                    f"{{{{ $labels.instance }}}} reaches zero within "
                    f"{go_duration(horizon)}.", None, {})
                self._predict(r, by, "node_memory_MemAvailable_bytes", by, horizon,
                              falling=True, limit=0.0)
        for proc in ram.processes:
            by = {"instance": f"{proc.name}:9100", "job": proc.job}
            group = f"memwatch-ram-{proc.name}"
            sel = f'{{job="{proc.job}"}}'
            s = _settings(self.spec, "ProcessMemoryUsageHigh")
            if s.enabled:
                limit = float(proc.limit_bytes)
                self._tiers("ProcessMemoryUsageHigh", group,
                            f"max by (instance, job) (process_resident_memory_bytes{sel}) / "
                            f"{proc.limit_bytes}", by, limit, _rss_series(by),
                            _ratio_of_limit(limit), {"process": proc.name})
            s = _settings(self.spec, "ProcessMemoryExhaustionPredicted")
            if s.enabled:
                r = self._rule(
                    "ProcessMemoryExhaustionPredicted", group,
                    f"predict_linear(process_resident_memory_bytes{sel}[{window}], "
                    f"{horizon:g}) >= {proc.limit_bytes}", s, by,
                    f"At the rate of the last {window}, {proc.name} reaches its memory limit "
                    f"within {go_duration(horizon)}.", None, {"process": proc.name},
                    {"process": proc.name})
                self._predict(r, by, "process_resident_memory_bytes", by, horizon,
                              falling=False, limit=float(proc.limit_bytes))

    def _tiers(self, alert: str, group: str, usage: str, by: dict[str, str], total: float,
               series: Callable[[float], list[Series]], ratio_of: Callable[[float], float],
               fmt: dict[str, str]) -> None:
        """One rule per RAM tier: same alertname, its own severity and `threshold` label.

        `series(used)` gives the input series for `used` bytes in use; `ratio_of(used)`
        computes the usage exactly as the rule's PromQL does (same IEEE doubles)."""
        s = _settings(self.spec, alert)
        tiers = self.spec.alerts.ram.tiers
        rules = []
        for tier in tiers:
            st = Settings(True, tier.severity, s.for_s, tier.ratio, None, s.runbook)
            extra = {"threshold": f"{tier.ratio * 100:g}", **(
                {"process": fmt["process"]} if "process" in fmt else {})}
            rules.append(self._rule(alert, group, f"{usage} >= {tier.ratio:g}", st, by,
                                    "Memory usage is {value} (tier " + _pct(tier.ratio) + ").",
                                    "ratio", fmt, extra))
        end = _ceil_step(s.for_s) + STEP
        n = end // STEP + 2

        def scenario(used: float) -> tuple[Series, ...]:
            return tuple(Series(x.metric, x.labels, x.values * n) for x in series(used))

        for tier, r in zip(tiers, rules, strict=True):
            used = float(math.ceil(total * tier.ratio))
            while ratio_of(used) < tier.ratio:
                used += 1
            below = used - 1
            while ratio_of(below) >= tier.ratio:
                below -= 1
            firing = tuple(self._expected(rules[j], by, ratio_of(used))
                           for j in range(len(tiers)) if ratio_of(used) >= tiers[j].ratio)
            silent = tuple(self._expected(rules[j], by, ratio_of(below))
                           for j in range(len(tiers)) if ratio_of(below) >= tiers[j].ratio)
            checks = [Check(end, firing)]
            if s.for_s >= STEP:
                checks.insert(0, Check(end - 2 * STEP, ()))
            r.scenarios += [Scenario("fires at the tier", scenario(used), tuple(checks)),
                            Scenario("silent just below the tier", scenario(below),
                                     (Check(end, silent),))]

    def _predict(self, r: AlertRule, by: dict[str, str], metric: str, labels: dict[str, str],
                 horizon: float, falling: bool, limit: float) -> None:
        """predict_linear scenarios: a straight line reaching `limit` within the horizon."""
        rate = 1_000_000.0  # per STEP
        steps_h = horizon / STEP
        t_true = _ceil_step(r.for_s) + 10 * STEP
        end = t_true + _ceil_step(r.for_s) + STEP
        times = range(0, end + STEP, STEP)
        sign = -1.0 if falling else 1.0
        # fire: the prediction meets the limit at t_true; silent: a step's worth short at end
        start_fire = limit - sign * rate * (t_true / STEP + steps_h)
        start_silent = limit - sign * rate * (end / STEP + steps_h + 1)

        def series(start: float) -> tuple[Series, ...]:
            return (Series(metric, labels, tuple(start + sign * rate * t / STEP
                                                 for t in times)),)

        r.scenarios += [
            Scenario("fires when the line meets the limit within the horizon",
                     series(start_fire), (Check(end - 2 * STEP, ()),
                                          Check(end, (self._expected(r, by, None),)))),
            Scenario("silent when it meets it just after", series(start_silent),
                     (Check(end, ()),)),
        ]


def _rss_series(by: dict[str, str]) -> Callable[[float], list[Series]]:
    def series(used: float) -> list[Series]:
        return [Series("process_resident_memory_bytes", by, (used,))]
    return series


def _ratio_of_limit(limit: float) -> Callable[[float], float]:
    def ratio(used: float) -> float:
        return used / limit
    return ratio


@dataclass(frozen=True)
class Capabilities:
    backend: str
    features: frozenset[str]
    backlog_stage: str = "spool"


def capabilities(store: object) -> Capabilities:
    """What a store's preset exports, hence which alerts apply to it."""
    preset = getattr(store, "preset", "")
    f = {"count", "size"}
    if preset == "openclaw-mem":
        backlog = bool(getattr(store, "spool", None))
        return Capabilities("sqlite", frozenset(
            f | {"freshness", "models", "dimension"} | ({"backlog"} if backlog else set())))
    if preset == "mem0-history":
        return Capabilities("sqlite", frozenset(f | {"freshness"}))
    if preset == "mem0-pgvector":
        return Capabilities("postgresql", frozenset(f | {"freshness", "dimension",
                                                         "identity"}))
    if preset == "sql":
        fresh = {"freshness"} if getattr(store, "timestamp", None) else set()
        return Capabilities(str(getattr(store, "backend", "sqlite")), frozenset(f | fresh))
    if preset == "files":
        return Capabilities("files", frozenset())
    if preset == "clawmongo":
        return Capabilities("mongodb", frozenset(f | {"freshness", "backlog"}),
                            backlog_stage="projection")
    if preset in ("mem0-mongodb", "orchestrator", "mongo"):
        fresh = {"freshness"} if preset != "mongo" or getattr(store, "timestamp", None) \
            else set()
        return Capabilities("mongodb", frozenset(f | fresh))
    return Capabilities("unknown", frozenset({"count"}))


def exporter_jobs(spec: Spec) -> Iterator[tuple[str, str]]:
    """(job, instance) of every memwatch exporter Prometheus scrapes."""
    if spec.prometheus.exporters:
        for e in spec.prometheus.exporters:
            for target in e.targets or (spec.exporter.listen,):
                yield e.job, target
    else:
        yield "memwatch", spec.exporter.listen


def build_rules(spec: Spec) -> list[AlertRule]:
    b = Builder(spec)
    b.store_rules()
    b.exporter_rules()
    b.ram_rules()
    return b.rules


__all__ = ["AlertRule", "GenerationError", "build_rules", "capabilities", "parse_duration"]
