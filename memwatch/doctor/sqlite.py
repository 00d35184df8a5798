"""Doctor checks for the SQLite stores (openclaw-mem, mem0-history, openclaw-memory-core,
sql with backend sqlite): the file, its side files (memwatch/doctor/sidefiles.py), a
read through the exporter's own read-only connection (`SqliteBackend._open`), the tables
and columns the preset reads, then one collection by the exporter's code."""

from __future__ import annotations

import os
import sqlite3
import stat
from contextlib import closing

from memwatch.backends.openclaw_core import layout_of
from memwatch.backends.registry import make_backend
from memwatch.backends.sqlite import SqliteBackend, classify
from memwatch.doctor import Report, base_columns, collect
from memwatch.doctor.sidefiles import examine, user
from memwatch.errors import CollectionError
from memwatch.spec import (
    Mem0HistoryStore,
    OpenclawMemoryCoreStore,
    OpenclawMemStore,
    SqlStore,
    StoreBase,
)

HEADER = b"SQLite format 3\x00"
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
# the tables each preset reads, and the columns of them it needs
NEEDED: dict[type[StoreBase], dict[str, tuple[str, ...]]] = {
    OpenclawMemStore: {"observations": ("ts", "tool_name", "detail_json")},
    Mem0HistoryStore: {"history": ("memory_id", "event", "created_at", "updated_at")},
}


def check_sqlite(store: StoreBase, report: Report) -> None:
    backend = make_backend(store)
    assert isinstance(backend, SqliteBackend)
    try:
        wal = check_file(backend, report)
        if wal is None:
            return
        verdict = examine(backend.path, wal)
        for problem in verdict.problems:
            report.fail("side-files", problem)
        if not verdict.problems:
            report.ok("side-files", f"{backend.path}: " + (
                ", ".join(verdict.notes) if verdict.notes else "no side files (no writer "
                "has it open)") + "; the exporter's user can read it in every state")
        if verdict.safe_to_open and check_tables(store, backend, report):
            collect(backend, report)
    finally:
        backend.close()


def check_file(backend: SqliteBackend, report: Report) -> bool | None:
    """The database file: there, readable, SQLite. Its WAL mode, or None on a failure."""
    path = backend.path
    try:
        st = backend.stat()
    except CollectionError as err:
        report.fail("file", missing_file(path) if err.reason == "missing" else
                    f"{err}: let the exporter's user search every directory above it")
        return None
    if not stat.S_ISREG(st.st_mode):
        report.fail("file", f"{path} is not a file: `path` names the database file itself")
        return None
    if not os.access(path, os.R_OK):
        report.fail("file", f"{path} is not readable by {user(os.geteuid())} (this user): it "
                    f"belongs to {user(st.st_uid)}, mode {st.st_mode & 0o777:o}; run the "
                    "exporter as its owner, or give the exporter's user its group (and g+r)")
        return None
    with open(path, "rb") as fh:
        header = fh.read(100)
    if not header:
        report.fail("file", f"{path} is empty: no database yet (the writer creates it on "
                            "its first write), or `path` names another file")
        return None
    if not header.startswith(HEADER) or len(header) < 20:
        report.fail("file", f"{path} is not a SQLite database (its first bytes are not "
                            "'SQLite format 3'): `path` names another file")
        return None
    wal = header[18] == 2
    mode = "WAL" if wal else "rollback-journal"
    report.ok("file", f"{path}: SQLite, {mode} mode, {st.st_size} bytes, owner "
                      f"{user(st.st_uid)}")
    return wal


def missing_file(path: str) -> str:
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        return f"{path} does not exist: nor does its directory {directory} (check `path`)"
    siblings = sorted(n for n in os.listdir(directory) if n.endswith(SQLITE_SUFFIXES))
    found = (f"SQLite files there: {', '.join(siblings[:10])}" if siblings
             else "no SQLite file is there")
    return f"{path} does not exist; {found} (set path:)"


def needed_tables(store: StoreBase) -> dict[str, tuple[str, ...]]:
    if isinstance(store, SqlStore):
        return {store.table: tuple(sorted(base_columns(store)))}
    return NEEDED.get(type(store), {})


def check_tables(store: StoreBase, backend: SqliteBackend, report: Report) -> bool:
    """A read through the exporter's read-only connection: its tables and columns."""
    path = backend.path
    try:
        conn = backend._open()
    except CollectionError as err:
        report.fail("open", f"{path}: {err} ({err.reason})")
        return False
    with closing(conn):
        try:
            conn.execute("BEGIN")
            tables = backend.tables(conn)
            columns = {t: {r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')}
                       for t in needed_tables(store) if t in tables}
        except sqlite3.Error as exc:
            report.fail("open", read_problem(path, exc))
            return False
    report.ok("open", f"{path}: read through a read-only connection")
    problems = []
    if isinstance(store, OpenclawMemoryCoreStore):
        try:
            layout_of(tables, path)
        except CollectionError as err:
            problems.append(str(err))
    for table, need in needed_tables(store).items():
        if table not in tables:
            problems.append(f"{path} has no table {table}")
        elif missing := [c for c in need if c not in columns[table]]:
            problems.append(f"table {table} has no column {', '.join(missing)}")
    if problems:
        report.fail("table", f"{'; '.join(problems)} (tables: "
                             f"{', '.join(sorted(tables)[:15]) or 'none'}): is `path` the "
                             f"{preset(store)} database?")
        return False
    report.ok("table", f"{path} has the tables the {preset(store)} preset reads")
    return True


def preset(store: StoreBase) -> str:
    return str(getattr(store, "preset", type(store).__name__))


def read_problem(path: str, exc: sqlite3.Error) -> str:
    """A failed read, with what SQLite's error code says about the side files."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_READONLY_ROLLBACK":
        return (f"{path}-journal is a hot journal: a writer stopped mid-transaction and a "
                "read-only reader cannot roll it back, so every read fails; open the "
                f"database read-write once as its owner (sqlite3 {path} 'PRAGMA "
                "quick_check;') to roll it back")
    directory = os.path.dirname(path) or "."
    if name in ("SQLITE_READONLY_DIRECTORY", "SQLITE_CANTOPEN") and not os.path.exists(
            f"{path}-shm") and not os.access(directory, os.W_OK):
        return (f"{path} is in WAL mode, no writer has it open and this user may not "
                f"create {path}-shm in {directory} (its permissions, or a read-only "
                "mount), so the read fails; run the exporter as the database's owner, the "
                "directory writable")
    if name == "SQLITE_CANTOPEN":
        return (f"{path} or its -wal/-shm cannot be opened by this user ({exc}): run the "
                "exporter as the database's owner, or give it their group")
    if name == "SQLITE_NOTADB":
        return f"{path} is not a SQLite database (or is encrypted): `path` names another file"
    err = classify(exc)
    return f"{path}: {err} ({err.reason})"
