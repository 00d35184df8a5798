"""Replay scrapes of a real store through the rendered alert rules with promtool.

A replay is a timeline of scrapes: the steady state (the scrape before the incident) for
the first `INCIDENT_MINUTE` minutes, long enough to fill every window of the rules, then
the scrapes taken after the incident, one sample a minute. Each scrape becomes promtool
input series (labels `instance`/`job` added, as Prometheus adds them); a series missing
from a scrape gets a staleness marker, as Prometheus writes one. promtool is asked, at
every minute, for `ALERTS{alertstate="firing"}` with nothing expected: its failure report
lists what fired when.

Timestamps (`*_timestamp_seconds`) keep their age on the store's clock: on a `flowing`
phase (things keep arriving) each minute's sample moves with time, so the age stays what
it was at the scrape; on a `frozen` phase (nothing moves: a stalled harvest) the value
stays and the age grows from the phase's first minute.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from memwatch.exporter import Exporter
from memwatch.generators.output import Context
from memwatch.generators.pipeline import render_all
from tests.helpers import Scrape, spec_from

INCIDENT_MINUTE = 70  # > the longest window (1h) the replayed rules look back
AFTER_MINUTES = 30  # how long the after-state is replayed by default
SCRAPE_LABELS = {"instance": "memwatch:9187", "job": "memwatch"}
Key = tuple[str, frozenset[tuple[str, str]]]
Labels = frozenset[tuple[str, str]]
Alert = tuple[str, Labels]  # alertname, the alert's other labels
Clock = Literal["flowing", "frozen"]


@dataclass(frozen=True)
class Snapshot:
    """One scrape's samples and the wall-clock time it was taken."""

    data: Mapping[Key, float]
    at: float

    @classmethod
    def take(cls, exp: Exporter) -> Snapshot:
        at = time.time()
        return cls(Scrape(exp).data, at)

    @classmethod
    def merge(cls, *snaps: Snapshot) -> Snapshot:
        """The scrapes of several exporters as one (taken within a second)."""
        return cls({k: v for s in snaps for k, v in s.data.items()}, snaps[0].at)

    def get(self, name: str, **labels: str) -> float | None:
        return self.data.get((name, frozenset(labels.items())))

    def family(self, name: str, store: str, label: str) -> dict[str, float]:
        """{value of `label`: sample} of one family for one store."""
        return {dict(k)[label]: v for (n, k), v in self.data.items()
                if n == name and dict(k).get("store") == store}


@dataclass(frozen=True)
class Phase:
    start: int  # the first minute this scrape's values hold
    snap: Snapshot
    frozen: frozenset[str] = frozenset()  # stores whose clock stands still (else flowing)

    def clock(self, labels: Labels) -> Clock:
        return "frozen" if dict(labels).get("store") in self.frozen else "flowing"


def timeline(before: Snapshot, *after: Snapshot, frozen: Iterable[str] = (),
             at: int = INCIDENT_MINUTE) -> list[Phase]:
    """`before` until minute `at`, then the `after` scrapes a minute each (the last one
    holds to the end); on the stores named in `frozen` nothing moves after `at`."""
    still = frozenset(frozen)
    return [Phase(0, before), *(Phase(at + i, s, still) for i, s in enumerate(after))]


# -- promtool input -----------------------------------------------------------------------

def number(v: float) -> str:
    """A value in promtool's series notation, plain (integers exact, no exponent)."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v.is_integer():
        return str(int(v))
    return f"{v:.9f}".rstrip("0").rstrip(".")


def values(key: Key, phases: Sequence[Phase], end: int) -> str:
    """The expanding notation of one series over minutes 0..end."""
    tokens: list[str] = []
    present = False
    for i, ph in enumerate(phases):
        last = phases[i + 1].start - 1 if i + 1 < len(phases) else end
        n = last - ph.start + 1  # minutes this phase covers
        v = ph.snap.data.get(key)
        if v is None:
            if present:  # the series left the scrape: Prometheus writes a staleness marker
                tokens.append("stale")
                n -= 1
            if n:
                tokens.append(f"_x{n}")
            present = False
            continue
        if key[0].endswith("_timestamp_seconds"):
            first = v - ph.snap.at + ph.start * 60  # its age at the scrape, at `start`
            step = "+60" if ph.clock(key[1]) == "flowing" else ""
            tokens.append(f"{number(first)}{step}x{n - 1}")
        else:
            tokens.append(f"{number(v)}x{n - 1}")
        present = True
    return " ".join(tokens)


def selector(name: str, labels: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels))
    return f"{name}{{{inner}}}"


def input_series(phases: Sequence[Phase], end: int) -> list[dict[str, str]]:
    keys = sorted({k for ph in phases for k in ph.snap.data}, key=lambda k: (k[0], sorted(k[1])))
    return [{"series": selector(name, {*labels, *SCRAPE_LABELS.items()}),
             "values": values((name, labels), phases, end)} for name, labels in keys]


# -- the rules ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.label, "")
        if self.op in ("=", "!="):
            return (got == self.value) == (self.op == "=")
        return (re.fullmatch(self.value, got) is not None) == (self.op == "=~")


_MATCHER = re.compile(r'^\s*(\w+)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')


def matcher(text: str) -> Matcher:
    m = _MATCHER.match(text)
    assert m, f"cannot read the matcher {text!r}"
    return Matcher(m.group(1), m.group(2), json.loads(f'"{m.group(3)}"'))


@dataclass(frozen=True)
class Inhibition:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    """The rendered rule files of a spec, and its Alertmanager's inhibitions."""

    dir: Path
    inhibitions: tuple[Inhibition, ...]

    @classmethod
    def render(cls, spec_text: str, dest: Path) -> Rules:
        files = render_all(spec_from(spec_text), Context("spec.yaml"))
        (dest / "rules").mkdir(parents=True, exist_ok=True)
        for rel in ("rules/recording.yml", "rules/alerts.yml"):  # anomaly.yml needs 7 days
            (dest / rel).write_text(files[rel])
        am = yaml.safe_load(files["alertmanager/alertmanager.yml"])
        inhibitions = tuple(Inhibition(tuple(map(matcher, r["source_matchers"])),
                                       tuple(map(matcher, r["target_matchers"])),
                                       tuple(r.get("equal", ())))
                            for r in am.get("inhibit_rules", ()))
        return cls(dest, inhibitions)

    def pages(self, firing: Iterable[Alert]) -> frozenset[Alert]:
        """What Alertmanager would notify: the firing alerts no other one inhibits."""
        alerts = [(a, {**dict(a[1]), "alertname": a[0]}) for a in firing]

        def inhibited(target: Mapping[str, str]) -> bool:
            return any(
                all(m.matches(target) for m in rule.target)
                and all(m.matches(src) for m in rule.source)
                and all(src.get(k, "") == target.get(k, "") for k in rule.equal)
                for rule in self.inhibitions for _, src in alerts if src is not target)

        return frozenset(a for a, labels in alerts if not inhibited(labels))


# -- promtool's report --------------------------------------------------------------------

_TIME = re.compile(r'^\s*expr: "ALERTS\{.*\}", time: (\S+),$')
_GOT = re.compile(r"^\s*got: (.*)$")
_SAMPLE = re.compile(r'\{((?:\s*\w+="(?:[^"\\]|\\.)*",?)*)\}')
_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_FRAME = ("", "exp: nil", "FAILED:", "SUCCESS")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def minutes(duration: str) -> int:
    """promtool's `1h10m` (a Prometheus duration) in minutes."""
    parts = re.findall(r"(\d+)([wdhms])", duration)
    assert parts and "".join(a + b for a, b in parts) == duration, duration
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    assert seconds % 60 == 0, duration
    return seconds // 60


def parse_report(report: str) -> dict[int, frozenset[Alert]]:
    """{minute: the alerts firing} from promtool's failures of `ALERTS{alertstate=
    "firing"}` expected empty. Any other line in the report is an error of the test
    itself, never read as "nothing fired"."""
    out: dict[int, frozenset[Alert]] = {}
    minute: int | None = None
    for line in report.splitlines():
        if (t := _TIME.match(line)) is not None:
            minute = minutes(t.group(1))
        elif (g := _GOT.match(line)) is not None:
            assert minute is not None, line
            alerts = set()
            for sample in _SAMPLE.findall(g.group(1)):
                labels = {k: json.loads(f'"{v}"') for k, v in _PAIR.findall(sample)}
                name = labels.pop("alertname")
                for k in ("__name__", "alertstate"):
                    labels.pop(k)
                alerts.add((name, frozenset(labels.items())))
            out[minute] = frozenset(alerts)
        elif line.strip() not in _FRAME and not line.startswith("Unit Testing:"):
            raise AssertionError(f"unexpected promtool output: {line!r}\n{report}")
    return out


# -- a replay -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Replay:
    firing: dict[int, frozenset[Alert]]  # minute -> alerts firing
    incident: int
    end: int
    rules: Rules = field(repr=False)

    def alerts(self, store: str, since: int | None = None) -> set[Alert]:
        """Every alert of `store` firing at some minute from `since` (default: the
        incident) to the end."""
        start = self.incident if since is None else since
        return {a for m, fired in self.firing.items() if m >= start for a in fired
                if dict(a[1]).get("store") == store}

    def names(self, store: str) -> set[str]:
        return {a[0] for a in self.alerts(store)}

    def before(self) -> set[Alert]:
        return {a for m, fired in self.firing.items() if m < self.incident for a in fired}

    def first(self, alertname: str, **labels: str) -> int | None:
        """Minutes from the incident until `alertname` with `labels` first fires."""
        want = set(labels.items())
        for m in sorted(self.firing):
            if m >= self.incident and any(a[0] == alertname and want <= a[1]
                                          for a in self.firing[m]):
                return m - self.incident
        return None

    def paged(self, store: str) -> set[str]:
        """Alert names of `store` Alertmanager would notify at some minute."""
        return {a[0] for m, fired in self.firing.items() if m >= self.incident
                for a in self.rules.pages(fired) if dict(a[1]).get("store") == store}


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: install Debian's prometheus (scripts/bootstrap.sh)"
    return found


def start(rules: Rules, phases: Sequence[Phase], after: int = AFTER_MINUTES,
          name: str = "replay") -> Callable[[], Replay]:
    """Start promtool on the timeline (minute 0 to `after` minutes past the first
    after-phase) and return the function that waits for what fired at each minute."""
    incident = phases[1].start if len(phases) > 1 else INCIDENT_MINUTE
    end = incident + after
    test = {"rule_files": ["rules/recording.yml", "rules/alerts.yml"],
            "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": input_series(phases, end),
                       "promql_expr_test": [
                           {"expr": 'ALERTS{alertstate="firing"}', "eval_time": f"{m}m",
                            "exp_samples": []} for m in range(end + 1)]}]}
    path = rules.dir / f"{name}.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False, width=10_000))
    proc = subprocess.Popen([promtool(), "test", "rules", path.name], cwd=rules.dir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def finish() -> Replay:
        report, _ = proc.communicate(timeout=120)
        firing = parse_report(report)
        assert (proc.returncode == 0) == (not firing), report  # failed: something fired
        return Replay(firing, incident, end, rules)

    return finish


def replay(rules: Rules, phases: Sequence[Phase], after: int = AFTER_MINUTES) -> Replay:
    """What fires at each minute of the timeline."""
    return start(rules, phases, after)()
