"""`memwatch doctor`: per store, OK or exactly what is wrong and how to fix it.

Each backend's checks live in a module of their own (`postgres`, `sqlite`, `mongodb`;
`files` for file checks, spools and workspaces). They connect the way the exporter does
(the backends of memwatch/backends, their timeouts, read-only sessions and error
classification) and end with one real collection by the exporter's own code. A check that
fails and leaves nothing further to ask (the server unreachable, the table missing) ends
that store's checks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from memwatch.backends.base import Backend
from memwatch.errors import CollectionError
from memwatch.secrets import redact
from memwatch.spec import ExporterSpec, SqlStore, StoreBase


@dataclass(frozen=True)
class Finding:
    store: str
    check: str  # connect, session, table, columns, privileges, file, side-files, ...
    ok: bool
    message: str


class Report:
    """The findings of one store, in the order the checks ran."""

    def __init__(self, store: str) -> None:
        self.store = store
        self.findings: list[Finding] = []

    def ok(self, check: str, message: str) -> None:
        self.findings.append(Finding(self.store, check, True, one_line(message)))

    def fail(self, check: str, message: str) -> None:
        self.findings.append(Finding(self.store, check, False, one_line(message)))

    @property
    def failed(self) -> bool:
        return any(not f.ok for f in self.findings)


def one_line(text: str) -> str:
    """Driver messages span lines (libpq's hints): one line, secrets redacted."""
    return redact(" ".join(text.split()))


def collect(backend: Backend, report: Report) -> None:
    """The exporter's own collection, once: what `memwatch_up` would say."""
    try:
        obs = backend.collect()
    except CollectionError as err:
        first = (str(err).strip().splitlines() or [""])[0]  # not the SQL it quotes
        report.fail("collect", f"the exporter's collection fails (reason {err.reason}): "
                               f"{first}")
        return
    count = "no count" if obs.memories is None else f"{obs.memories:.0f} memories"
    report.ok("collect", f"the exporter's collection works: {count}")


def base_columns(store: SqlStore) -> set[str]:
    """The columns the sql preset's spec names (the column of a `column.key` JSON path)."""
    refs = [store.namespace, store.timestamp, *(c.column for c in store.filter)]
    return {r.split(".")[0] for r in refs if r}


def check_store(store: StoreBase) -> Report:
    report = Report(store.name)
    try:
        _check(store, report)
    except Exception as exc:  # a bug in memwatch: said on one line, never a traceback
        report.fail("internal", f"memwatch doctor failed on this store ({type(exc).__name__}:"
                                f" {exc}): a bug in memwatch, please report it")
    if not report.findings:
        report.ok("store", "nothing to check")
    return report


def _check(store: StoreBase, report: Report) -> None:
    backend = store.capabilities().backend
    if backend == "postgresql":
        from memwatch.doctor.postgres import check_postgres
        check_postgres(store, report)
    elif backend == "sqlite":
        from memwatch.doctor.sqlite import check_sqlite
        check_sqlite(store, report)
    elif backend == "mongodb":
        from memwatch.doctor.mongodb import check_mongodb
        check_mongodb(store, report)
    from memwatch.doctor.files import check_files
    check_files(store, report)


def run(spec: ExporterSpec, only: Sequence[str] = ()) -> list[Finding]:
    """Every check of the spec's stores (or of `only`); UnknownStoreError naming an
    unknown store."""
    findings: list[Finding] = []
    for store in spec.select(only):
        findings += check_store(store).findings
    return findings


def render(findings: Sequence[Finding], fmt: str = "text") -> str:
    if fmt == "json":
        rows = [{**asdict(f), "status": "OK" if f.ok else "FAIL"} for f in findings]
        for row in rows:
            del row["ok"]
        return json.dumps(rows, indent=2) + "\n"
    width = max((len(f.store) for f in findings), default=0)
    return "".join(f"{f.store:<{width}}  {'OK' if f.ok else 'FAIL':<4}  {f.message}\n"
                   for f in findings)
