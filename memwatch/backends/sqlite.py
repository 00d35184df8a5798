"""SQLite backends: openclaw-mem, mem0's history.db and the custom `sql` preset.

The file is opened read-only (`mode=ro`, `PRAGMA query_only`), a new connection per
collection (a replaced file is seen at once and no lock outlives a scrape), and a timer
interrupts a query that passes the store's timeout. In WAL mode readers never block the
writer. One more connection stays open between scrapes, outside any transaction, only to
ask `PRAGMA data_version` whether anyone wrote since (UnchangedCache).
"""

from __future__ import annotations

import contextlib
import copy
import os
import sqlite3
import threading
import urllib.parse
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from memwatch import metrics
from memwatch.backends.base import Backend, Observation, by_label, cap_namespaces
from memwatch.backends.sqlbuild import SqlBuilder
from memwatch.errors import CollectionError
from memwatch.spec import Mem0HistoryStore, OpenclawMemStore, SqlStore


def classify(exc: sqlite3.Error) -> CollectionError:
    text = str(exc)
    low = text.lower()
    if "interrupted" in low:
        return CollectionError("timeout", "query interrupted at the store's timeout")
    if "locked" in low or "busy" in low:
        return CollectionError("locked", text)
    if "no such table" in low or "no such column" in low:
        return CollectionError("schema", text)
    if "unable to open" in low or "readonly" in low:
        return CollectionError("connect", text)
    return CollectionError("query", text)


class SqliteBackend(Backend):
    kind = "sqlite"
    # query() reads the database alone (no other file, nothing time-dependent): its last
    # answer stands while the database is unchanged (UnchangedCache)
    reads_database_only = False

    def __init__(self, path: str, timeout: float) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.unchanged = UnchangedCache(self)

    def stat(self) -> os.stat_result:
        """The file's status; `missing` or `permission` as the OS tells them apart (a
        directory without search permission hides the file: that is `permission`)."""
        try:
            return os.stat(self.path)
        except PermissionError:
            raise CollectionError("permission", f"{self.path}: a directory on the path is "
                                  "not searchable (x) by this user") from None
        except OSError:
            raise CollectionError("missing", f"{self.path}: no such file") from None

    def _open(self) -> sqlite3.Connection:
        self.stat()
        if not os.access(self.path, os.R_OK):
            raise CollectionError("permission", f"{self.path}: not readable")
        uri = f"file:{urllib.parse.quote(self.path)}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self.timeout,
                                   isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only = 1")
        except sqlite3.Error as exc:
            raise classify(exc) from None
        return conn

    def size_bytes(self) -> float:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(self.path + suffix)
        return float(total)

    def collect(self) -> Observation:
        if self.reads_database_only:
            obs = self.unchanged.collect()
        else:
            obs = self._in_snapshot(self.query, self.timeout, cancellable=True)
        obs.size_bytes = self.size_bytes()
        return obs

    def integrity(self, timeout: float) -> Observation:
        # its own connection and timer, so it runs beside collect() (never cancelled by a
        # scrape's timeout: the timer bounds it)
        return self._in_snapshot(self.integrity_query, timeout, cancellable=False)

    def integrity_query(self, conn: sqlite3.Connection) -> Observation:
        raise NotImplementedError(f"{type(self).__name__} has no integrity pass")

    def _in_snapshot(self, run: Callable[[sqlite3.Connection], Observation], timeout: float,
                     cancellable: bool) -> Observation:
        """`run` on a fresh read-only connection inside one read snapshot, interrupted
        after `timeout` seconds."""
        conn = self._open()
        timer = threading.Timer(timeout, conn.interrupt)
        if cancellable:
            with self._lock:
                self._conn = conn
        timer.start()
        try:
            conn.execute("BEGIN")  # one read snapshot for every query of this run
            return run(conn)
        except sqlite3.Error as exc:
            raise classify(exc) from None
        finally:
            timer.cancel()
            if cancellable:
                with self._lock:
                    self._conn = None
            conn.close()

    def cancel(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.interrupt()

    def close(self) -> None:
        self.unchanged.close()

    @staticmethod
    def tables(conn: sqlite3.Connection) -> set[str]:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {r[0] for r in rows}

    @staticmethod
    def scalar(conn: sqlite3.Connection, sql: str, params: Any = ()) -> Any:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    @abstractmethod
    def query(self, conn: sqlite3.Connection) -> Observation: ...


class UnchangedCache:
    """A database nobody wrote since the last collection gives the same answer: that answer
    again, without reading a row. Told by `PRAGMA data_version` on a connection kept open
    for it (it changes when any other connection commits) and by the file's identity (a
    file replaced or recreated is another database). The version is read before the
    collection's snapshot is taken, so a commit in between makes the next scrape read
    again. A scan of 100k observations costs 12x a count(*); the check, a fraction of one.
    """

    def __init__(self, backend: SqliteBackend) -> None:
        self.backend = backend
        self.watch: sqlite3.Connection | None = None
        self.file: tuple[int, int] | None = None  # st_dev, st_ino of the watched file
        # (data_version, the namespaces asked about), and the answer to them
        self.last: tuple[tuple[int, frozenset[str]], Observation] | None = None
        self.reads = 0  # collections that read the database

    def collect(self) -> Observation:
        b = self.backend
        key = (self._version(), frozenset(b.watch))
        if self.last is not None and self.last[0] == key:
            return copy.deepcopy(self.last[1])
        obs = b._in_snapshot(b.query, b.timeout, cancellable=True)
        self.reads += 1
        self.last = (key, copy.deepcopy(obs))
        return obs

    def _version(self) -> int:
        """The watched file's data_version; a new watch (and no answer kept) when the path
        now names another file."""
        try:
            st = self.backend.stat()
        except CollectionError:
            self.close()
            raise
        if self.watch is None or self.file != (st.st_dev, st.st_ino):
            self.close()
            self.watch = self.backend._open()
            self.file = (st.st_dev, st.st_ino)
        try:
            return int(self.watch.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            self.close()
            raise classify(exc) from None

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
        self.watch, self.file, self.last = None, None, None


def _unix(julian: float | None) -> float | None:
    # a Julian day double carries ~10 us of error at today's dates: round to milliseconds
    return None if julian is None else round((julian - 2440587.5) * 86400.0, 3)


# A soft-archived observation: detail_json.lifecycle.state = 'soft-archived'. instr() first:
# parsing every row's JSON cost 5x a count(*); only the rows holding the words are parsed.
# (JSON writers do not escape ASCII letters or '-': the words are there as written.)
_ARCHIVED = ("(coalesce(instr(detail_json, 'soft-archived'), 0) > 0 AND "
             "(CASE WHEN json_valid(detail_json) "
             "THEN json_extract(detail_json, '$.lifecycle.state') END) IS 'soft-archived')")


class OpenclawMemBackend(SqliteBackend):
    reads_database_only = True

    def __init__(self, store: OpenclawMemStore) -> None:
        super().__init__(store.path, store.timeout)
        self.store = store

    def query(self, conn: sqlite3.Connection) -> Observation:
        tables = self.tables(conn)
        if "observations" not in tables:
            raise CollectionError("schema", f"{self.path}: no observations table")
        # per tool through the (tool_name, ts) index, never reading a row; then only the
        # archived rows, from one scan of the table (in order: through the index SQLite
        # would fetch every row at random for detail_json, 6x slower at 100k)
        rows = conn.execute("SELECT tool_name, count(*), max(julianday(ts)) "
                            "FROM observations GROUP BY tool_name").fetchall()
        gone = dict(conn.execute(f"SELECT tool_name, count(*) FROM observations NOT INDEXED "
                                 f"WHERE {_ARCHIVED} GROUP BY tool_name").fetchall())
        archived = sum(gone.values())
        active = float(sum(n for _, n, _ in rows) - archived)
        newest = max((t for _, _, t in rows if t is not None), default=None)
        cap = self.store.max_namespaces
        # every tool at once (a few dozen): the largest are the namespaces, and a watched
        # one missing here holds no observation (memwatch/namespaces.py)
        groups = [(tool, n - gone.get(tool, 0)) for tool, n, _ in rows
                  if n > gone.get(tool, 0)]
        obs = Observation(memories=active, namespaces=cap_namespaces(groups, active, cap),
                          newest_timestamp=_unix(newest))
        obs.namespace_counts = by_label(groups)
        obs.add(metrics.ARCHIVED.name, archived)
        if "episodic_events" in tables:
            for scope, n in conn.execute(
                    "SELECT coalesce(scope, ''), count(*) FROM episodic_events GROUP BY 1"):
                obs.add(metrics.EPISODIC_EVENTS.name, n, scope=scope or metrics.NO_NAMESPACE)
        if "observation_embeddings" in tables:
            # the newest embedding's dimension: the highest rowid, one b-tree step
            dim = self.scalar(conn, "SELECT dim FROM observation_embeddings "
                                    "ORDER BY rowid DESC LIMIT 1")
            if dim is not None:
                obs.add(metrics.VECTOR_DIMENSION.name, dim)
        if self.store.expected_dimension is not None:
            obs.add(metrics.VECTOR_DIMENSION_EXPECTED.name, self.store.expected_dimension)
        return obs

    def integrity_query(self, conn: sqlite3.Connection) -> Observation:
        """Duplicates (the same tool, summary and detail stored again: a spool harvested
        twice), observations without an embedding, embeddings by model and dimension."""
        obs = Observation()
        tables = self.tables(conn)
        if "observations" not in tables:
            raise CollectionError("schema", f"{self.path}: no observations table")
        obs.add(metrics.DUPLICATES.name, self.scalar(
            conn, "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM "
                  f"observations NOT INDEXED WHERE NOT ({_ARCHIVED}) GROUP BY tool_name, "
                  "summary, detail_json HAVING count(*) > 1)"))
        if "observation_embeddings" not in tables:
            return obs  # a store without embeddings: none can be missing or mixed
        for model, n in conn.execute("SELECT coalesce(model, ''), count(*) FROM "
                                     "observation_embeddings GROUP BY 1"):
            obs.add(metrics.EMBEDDINGS.name, n, model=model or metrics.NO_NAMESPACE)
        for dim, n in conn.execute("SELECT dim, count(*) FROM observation_embeddings "
                                   "GROUP BY 1"):
            obs.add(metrics.EMBEDDINGS_BY_DIMENSION.name, n, dimension=str(dim))
        obs.add(metrics.WITHOUT_EMBEDDING.name, self.scalar(
            conn, f"SELECT count(*) FROM observations o WHERE NOT ({_ARCHIVED}) AND "
                  "NOT EXISTS (SELECT 1 FROM observation_embeddings e "
                  "WHERE e.observation_id = o.id)"))
        return obs


HISTORY_EVENTS = ("ADD", "UPDATE", "DELETE")


class Mem0HistoryBackend(SqliteBackend):
    reads_database_only = True

    def __init__(self, store: Mem0HistoryStore) -> None:
        super().__init__(store.path, store.timeout)

    def query(self, conn: sqlite3.Connection) -> Observation:
        if "history" not in self.tables(conn):
            raise CollectionError("schema", f"{self.path}: no history table")
        counts = dict.fromkeys(HISTORY_EVENTS, 0)
        for event, n in conn.execute("SELECT event, count(*) FROM history GROUP BY event"):
            counts[str(event)] = n
        # live memories: ids whose history has no DELETE
        live = self.scalar(conn, "SELECT count(*) FROM (SELECT memory_id FROM history "
                                 "GROUP BY memory_id HAVING max(event = 'DELETE') = 0)")
        newest = self.scalar(conn, "SELECT max(julianday(coalesce(updated_at, created_at))) "
                                   "FROM history WHERE event IN ('ADD', 'UPDATE')")
        obs = Observation(memories=float(live), newest_timestamp=_unix(newest))
        for event, n in sorted(counts.items()):
            obs.add(metrics.HISTORY_EVENTS.name, n, event=event)
        return obs


class SqlSqliteBackend(SqliteBackend):
    reads_database_only = True

    def __init__(self, store: SqlStore) -> None:
        assert store.path is not None
        super().__init__(store.path, store.timeout)
        self.store = store
        self.sql = SqlBuilder(store, "sqlite")

    def query(self, conn: sqlite3.Connection) -> Observation:
        q = self.sql.count()
        total = float(self.scalar(conn, q.sql, q.params))
        obs = Observation(memories=total)
        if (nq := self.sql.namespaces(self.store.max_namespaces, self.watch)) is not None:
            rows = conn.execute(nq.sql, nq.params).fetchall()
            top = [(None if ns is None else str(ns), n) for w, ns, n in rows if not w]
            obs.namespaces = cap_namespaces(top, total, self.store.max_namespaces)
            obs.namespace_counts = {str(ns): float(n) for w, ns, n in rows if w}
        if (tq := self.sql.newest()) is not None:
            newest = self.scalar(conn, tq.sql, tq.params)
            obs.newest_timestamp = None if newest is None else float(newest)
        return obs
