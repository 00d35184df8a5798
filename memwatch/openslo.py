"""OpenSLO v1 `SLO` documents read as the spec's `slos` (docs/slo.md#openslo).

An SLO document maps onto a store's objective when its indicator (inline, or an `SLI`
document named by `indicatorRef`) is a `thresholdMetric` whose Prometheus query reads
memwatch's series for one store:

- `memwatch_up{store="mem0"}`: availability;
- `memwatch_newest_memory_timestamp_seconds{store="mem0"}` (e.g. `time() - ...`):
  freshness, the objective's `op: lte` (or `lt`) `value` being the lag in seconds.

The objective's `target` (a ratio, 0.999) becomes the percent objective (99.9), the rolling
`timeWindow` the window. Documents of other kinds (Service, AlertPolicy...) are skipped.
`python -m memwatch.openslo FILE...` prints the `slos` section; `apply` adds them to a spec.
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from memwatch.errors import SpecError
from memwatch.spec import Spec, safe_yaml
from memwatch.spec.slo import StoreSlo, check_slos

_STORE = re.compile(r'\bstore\s*=\s*"([^"]+)"')
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
METHODS = ("Occurrences", "Timeslices")


class _Doc:
    """One YAML document of the file, with the line it starts on."""

    def __init__(self, data: dict[str, Any], line: int, source: str) -> None:
        self.data, self.line, self.source = data, line, source
        self.name = str((data.get("metadata") or {}).get("name", "?"))

    def fail(self, why: str) -> SpecError:
        return SpecError([f"{self.source}:{self.line}: {self.data.get('kind')} "
                          f"{self.name}: {why}"])

    def get(self, *path: str) -> Any:
        cur: Any = self.data
        for key in path:
            cur = cur.get(key) if isinstance(cur, dict) else None
        return cur


def documents(text: str, source: str) -> list[_Doc]:
    """The file's documents (`---` between them), each read as a spec is (spec/safe_yaml.py)."""
    out, start, lines = [], 0, text.splitlines(keepends=True)
    for i, line in enumerate([*lines, "---\n"]):
        if line.rstrip() == "---":
            chunk = "\n" * start + "".join(lines[start:i])  # the file's line numbers
            try:
                _, data = safe_yaml.parse(chunk, source)
            except yaml.YAMLError as exc:
                raise SpecError([safe_yaml.problem(exc, chunk, source)]) from None
            if isinstance(data, dict):
                first = next((n for n in range(start, i) if lines[n].strip()
                              and not lines[n].lstrip().startswith("#")), start)
                out.append(_Doc(data, first + 1, source))
            start = i + 1
    return out


def _indicator(doc: _Doc, slis: dict[str, _Doc]) -> tuple[str, str]:
    """(the SLI, the store) its indicator's query reads."""
    ref = doc.get("spec", "indicatorRef")
    ind = slis[ref].get("spec") if isinstance(ref, str) and ref in slis else \
        doc.get("spec", "indicator", "spec")
    if ind is None:
        raise doc.fail(f"no indicator (inline, or an SLI document named {ref!r})")
    query = str(((ind.get("thresholdMetric") or {}).get("metricSource") or {})
                .get("spec", {}).get("query", ""))
    sli = ("freshness" if "memwatch_newest_memory_timestamp_seconds" in query else
           "availability" if "memwatch_up" in query else None)
    store = _STORE.search(query)
    if sli is None or store is None:
        raise doc.fail("the indicator must be a thresholdMetric whose Prometheus query "
                       "reads memwatch_up or memwatch_newest_memory_timestamp_seconds with "
                       'a store="..." matcher')
    return sli, store.group(1)


def _window(doc: _Doc) -> str:
    windows = doc.get("spec", "timeWindow") or []
    w = windows[0] if isinstance(windows, list) and len(windows) == 1 else {}
    match = _DURATION.match(str(w.get("duration", "")))
    if not w.get("isRolling") or match is None:
        raise doc.fail("timeWindow: one rolling window of whole minutes, hours, days or "
                       "weeks (e.g. {duration: 30d, isRolling: true}); calendar windows are "
                       "not supported")
    return _days(int(match.group(1)) * _UNIT[match.group(2)])


def _days(seconds: float) -> str:
    """A window as the spec writes it: `30d` (StoreSlo refuses what is not whole days)."""
    return f"{int(seconds) // 86400}d" if seconds % 86400 == 0 else f"{seconds:g}"


def _target(doc: _Doc, sli: str) -> dict[str, Any]:
    objectives = doc.get("spec", "objectives") or []
    if not isinstance(objectives, list) or len(objectives) != 1:
        raise doc.fail("objectives: exactly one")
    o = objectives[0]
    try:
        percent = Decimal(str(o["target"])) * 100
    except (KeyError, TypeError, InvalidOperation):
        raise doc.fail("objectives[0].target: a ratio such as 0.999") from None
    out: dict[str, Any] = {"objective": float(percent.normalize())}
    if sli == "freshness":
        if o.get("op") not in ("lt", "lte") or not isinstance(o.get("value"), int | float):
            raise doc.fail("objectives[0]: freshness needs op: lte and value: the lag in "
                           "seconds")
        out["lag"] = float(o["value"])
    return out


def read(text: str, source: str) -> tuple[StoreSlo, ...]:
    """The SLO documents of an OpenSLO file as the spec's `slos` entries, one per store."""
    docs = [d for d in documents(text, source) if d.data.get("apiVersion") == "openslo/v1"]
    slis = {d.name: d for d in docs if d.data.get("kind") == "SLI"}
    entries: dict[str, dict[str, Any]] = {}
    where: dict[str, _Doc] = {}
    for doc in (d for d in docs if d.data.get("kind") == "SLO"):
        method = doc.get("spec", "budgetingMethod")
        if method not in METHODS:
            raise doc.fail(f"budgetingMethod: one of {', '.join(METHODS)}, not {method!r}")
        sli, store = _indicator(doc, slis)
        entry = entries.setdefault(store, {"store": store, "window": _window(doc)})
        if entry["window"] != _window(doc) or sli in entry:
            raise doc.fail(f"store {store!r}: one {sli} objective per store, and one window "
                           "for both of its objectives")
        entry[sli], where[store] = _target(doc, sli), doc
    out = []
    for store, entry in entries.items():
        try:
            out.append(StoreSlo.model_validate(entry))
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise where[store].fail(msg) from None
    return tuple(out)


def apply(spec: Spec, path: Path) -> Spec:
    """`spec` with the OpenSLO file's objectives added to its `slos`, checked as the spec's
    own are (the stores exist, once, freshness where exported)."""
    slos = (*spec.slos, *read(safe_yaml.read_text(path), str(path)))
    try:
        check_slos(slos, {s.name: s.capabilities().features for s in spec.stores})
    except ValueError as exc:
        raise SpecError([f"{path}: {exc}"]) from None
    return spec.model_copy(update={"slos": slos})


def main(argv: list[str]) -> int:
    """Print the `slos` section for the OpenSLO files named."""
    try:
        slos = [s for arg in argv for s in read(safe_yaml.read_text(Path(arg)), arg)]
    except SpecError as err:
        print("\n".join(f"error: {p}" for p in err.problems), file=sys.stderr)
        return 2
    entries = [s.model_dump(mode="json", exclude_none=True) for s in slos]
    for e in entries:
        e["window"] = _days(e["window"])
    print(yaml.safe_dump({"slos": entries}, sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
