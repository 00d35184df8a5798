"""`memwatch doctor` on real SQLite files: the OK path, a missing file (with the SQLite files
next to it), a file that is not SQLite, a missing table, openclaw-mem's spool, OpenClaw's
workspace, a `files` check, and the side files: a hot journal a read-only reader cannot roll
back, `-wal`/`-shm` left by a reader of another user (which then block the writer: shown
here), a WAL database in a directory the reader may not write, a file it may not read.

Which user runs matters for the side files: those tests need root, to make files of two
users, and run the exporter or the doctor in a child process as `nobody` while `postgres`
owns the database (the writer)."""

from __future__ import annotations

import multiprocessing
import os
import pwd
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from memwatch import doctor as doc
from memwatch.backends.registry import make_backend
from memwatch.demo import openclaw_store as oc
from memwatch.errors import CollectionError
from tests.doctor_support import doctor
from tests.helpers import spec_from

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: files of two users")


def openclaw_spec(db: Path, spool: Path | None = None) -> str:
    spool_line = f"    spool: '{spool}'\n" if spool else "    spool: null\n"
    return f"stores:\n  - name: oc\n    preset: openclaw-mem\n    path: '{db}'\n{spool_line}"


def history_spec(db: Path) -> str:
    return f"stores:\n  - name: h\n    preset: mem0-history\n    path: '{db}'\n"


def make_store(path: Path, rows: int = 3) -> None:
    conn = oc.create(path)
    for i in range(rows):
        oc.insert_observation(conn, f"2026-11-20T07:0{i}:00.000Z", "web_search", f"obs {i}")
    conn.close()


def make_history(path: Path) -> None:
    conn = sqlite3.connect(path)  # rollback-journal mode, like mem0's history.db
    conn.execute("CREATE TABLE history (id TEXT PRIMARY KEY, memory_id TEXT, old_memory TEXT, "
                 "new_memory TEXT, event TEXT, created_at TEXT, updated_at TEXT, "
                 "is_deleted INTEGER, actor_id TEXT, role TEXT)")
    conn.execute("INSERT INTO history VALUES ('1', 'm1', NULL, 'tea', 'ADD', "
                 "'2026-11-20T07:00:00', NULL, 0, 'u1', 'user')")
    conn.commit()
    conn.close()


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """A directory every user may search (tmp_path's parents are root's 0700 ones)."""
    path = Path(tempfile.mkdtemp(prefix="memwatch-doctor-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_user(name: str, run: Callable[[], Any]) -> Any:
    """run() in a child process as `name`: its result (or its exception's repr)."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()

    def child() -> None:
        who = pwd.getpwnam(name)
        os.setgid(who.pw_gid)
        os.setuid(who.pw_uid)
        try:
            out.put(run())
        except Exception as exc:
            out.put(repr(exc))

    proc = ctx.Process(target=child)
    proc.start()
    result = out.get(timeout=60)
    proc.join(30)
    return result


def findings_as(name: str, text: str) -> dict[str, tuple[bool, str]]:
    """The doctor run as `name`: check -> (ok, message) (a FAIL wins over an OK)."""
    found = as_user(name, lambda: doc.run(spec_from(text)))
    assert isinstance(found, list), found
    out: dict[str, tuple[bool, str]] = {}
    for f in found:
        if f.check not in out or not f.ok:
            out[f.check] = (f.ok, f.message)
    return out


def test_ok(tmp_path: Path) -> None:
    make_store(tmp_path / "oc.sqlite")
    (tmp_path / "spool.jsonl").write_text(oc.spool_line(oc_time(), "exec", "x", 1) + "\n")
    out = doctor(tmp_path, openclaw_spec(tmp_path / "oc.sqlite", tmp_path / "spool.jsonl"))
    assert out.code == 0, out.text
    assert {r["check"]: r["status"] for r in out.rows} == dict.fromkeys(
        ["file", "side-files", "open", "table", "collect", "spool"], "OK")
    db = tmp_path / "oc.sqlite"
    assert out.message("file").startswith(f"{db}: SQLite, WAL mode, ")
    assert out.message("side-files") == (f"{db}: no side files (no writer has it open); the "
                                         "exporter's user can read it in every state")
    assert out.message("collect") == "the exporter's collection works: 3 memories"
    assert out.message("spool") == f"spool {tmp_path}/spool.jsonl is there"


def oc_time() -> Any:
    from datetime import UTC, datetime
    return datetime(2026, 11, 20, 7, 3, 41, tzinfo=UTC)


def test_missing_file_lists_sqlite_files_beside_it(tmp_path: Path) -> None:
    make_store(tmp_path / "openclaw-mem.sqlite")
    (tmp_path / "notes.txt").write_text("x")
    out = doctor(tmp_path, openclaw_spec(tmp_path / "openclaw.sqlite"))
    assert out.code == 1
    assert out.message("file", "FAIL") == (
        f"{tmp_path}/openclaw.sqlite does not exist; SQLite files there: "
        "openclaw-mem.sqlite (set path:)")
    assert [r["check"] for r in out.rows] == ["file"]
    out = doctor(tmp_path, openclaw_spec(tmp_path / "gone" / "x.sqlite"))
    assert out.message("file", "FAIL") == (f"{tmp_path}/gone/x.sqlite does not exist: nor "
                                           f"does its directory {tmp_path}/gone (check `path`)")


def test_not_sqlite_and_missing_table(tmp_path: Path) -> None:
    (tmp_path / "oc.sqlite").write_text("not a database\n" * 20)
    out = doctor(tmp_path, openclaw_spec(tmp_path / "oc.sqlite"))
    assert out.code == 1 and out.message("file", "FAIL") == (
        f"{tmp_path}/oc.sqlite is not a SQLite database (its first bytes are not 'SQLite "
        "format 3'): `path` names another file")
    make_history(tmp_path / "history.db")
    out = doctor(tmp_path, openclaw_spec(tmp_path / "history.db"))
    assert out.code == 1 and out.message("table", "FAIL") == (
        f"{tmp_path}/history.db has no table observations (tables: history): is `path` the "
        "openclaw-mem database?")
    assert "collect" not in out.statuses()  # nothing further to ask


def test_spool(tmp_path: Path) -> None:
    make_store(tmp_path / "oc.sqlite")
    out = doctor(tmp_path, openclaw_spec(tmp_path / "oc.sqlite", tmp_path / "nodir" / "s.jsonl"))
    assert out.code == 1 and out.message("spool", "FAIL") == (
        f"spool {tmp_path}/nodir/s.jsonl: its directory {tmp_path}/nodir does not exist (set "
        "spool: to where openclaw-mem captures, or spool: null)")
    spool = tmp_path / "spool.jsonl"
    out = doctor(tmp_path, openclaw_spec(tmp_path / "oc.sqlite", spool))
    assert out.code == 0, out.text  # between a harvest and the next capture
    assert out.message("spool") == (f"spool {spool}: no file now, normal until the next "
                                    "capture and right after a harvest")
    (tmp_path / "openclaw-mem-observations.jsonl").write_text("{}\n")
    out = doctor(tmp_path, openclaw_spec(tmp_path / "oc.sqlite", spool))
    assert out.code == 1 and out.message("spool", "FAIL") == (
        f"spool {spool} does not exist; JSONL files in {tmp_path}: "
        "openclaw-mem-observations.jsonl (set spool: "
        f"{tmp_path}/openclaw-mem-observations.jsonl)")


def test_workspace_and_files_checks(tmp_path: Path) -> None:
    db = tmp_path / "main.sqlite"  # the legacy memory-core layout, by hand
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); "
                       "CREATE TABLE files (path TEXT PRIMARY KEY, source TEXT, hash TEXT, "
                       "mtime INTEGER, size INTEGER); CREATE TABLE chunks (id TEXT PRIMARY "
                       "KEY, path TEXT, source TEXT, start_line INTEGER, end_line INTEGER, "
                       "hash TEXT, model TEXT, text TEXT, embedding TEXT, updated_at INTEGER)")
    conn.close()
    text = (f"stores:\n  - name: core\n    preset: openclaw-memory-core\n    path: '{db}'\n"
            f"    workspace: '{tmp_path}/workspace'\n"
            f"    files: [{{name: backups, glob: '{tmp_path}/backups/*.tar'}}]\n")
    out = doctor(tmp_path, text)
    assert out.code == 1
    assert out.message("workspace", "FAIL") == (
        f"workspace {tmp_path}/workspace does not exist: set workspace: to the agent's "
        "workspace (agents.defaults.workspace)")
    assert out.message("files:backups", "FAIL") == (
        f"check backups: directory {tmp_path}/backups does not exist, so "
        f"{tmp_path}/backups/*.tar can match nothing (check `glob`)")
    assert out.message("collect") == "the exporter's collection works: 0 memories"
    (tmp_path / "workspace" / "memory").mkdir(parents=True)
    (tmp_path / "workspace" / "MEMORY.md").write_text("# memory\n")
    (tmp_path / "workspace" / "memory" / "2026-11-20.md").write_text("- tea\n")
    (tmp_path / "backups").mkdir()
    out = doctor(tmp_path, text)
    assert out.code == 0, out.text
    assert out.message("workspace") == (f"workspace {tmp_path}/workspace: MEMORY.md, 2 memory "
                                        "files")
    assert out.message("files:backups") == f"check backups: 0 files match {tmp_path}/backups/*.tar"


def crash_mid_write(db: Path) -> None:
    """A writer that dies inside a transaction: its journal stays behind, hot."""
    pid = os.fork()
    if pid == 0:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA cache_size = 1")  # spill: the journal and the file get written
        conn.execute("BEGIN IMMEDIATE")
        for i in range(2000):
            conn.execute("INSERT INTO history (id, event) VALUES (?, 'ADD')", (f"x{i}",))
        os._exit(0)
    os.waitpid(pid, 0)


def test_hot_journal(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    make_history(db)
    crash_mid_write(db)
    assert (tmp_path / "history.db-journal").stat().st_size > 0
    out = doctor(tmp_path, history_spec(db))
    assert out.code == 1
    assert out.message("open", "FAIL") == (
        f"{db}-journal is a hot journal: a writer stopped mid-transaction and a read-only "
        "reader cannot roll it back, so every read fails; open the database read-write once "
        f"as its owner (sqlite3 {db} 'PRAGMA quick_check;') to roll it back")
    with pytest.raises(CollectionError):  # what the exporter meets
        make_backend(spec_from(history_spec(db)).stores[0]).collect()
    sqlite3.connect(db).execute("PRAGMA quick_check").fetchall()  # the fix, as told
    out = doctor(tmp_path, history_spec(db))
    assert out.code == 0, out.text
    assert out.message("collect") == "the exporter's collection works: 1 memories"


def owned_store(shared: Path, mode: int = 0o644) -> Path:
    """openclaw-mem's database, owned by `postgres` (standing in for the agent's user),
    closed by its writer: no side files."""
    db = shared / "oc.sqlite"
    make_store(db)
    pg = pwd.getpwnam("postgres")
    os.chown(db, pg.pw_uid, pg.pw_gid)
    db.chmod(mode)
    return db


def postgres_writes(db: Path) -> Any:
    def write() -> str:
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            oc.insert_observation(conn, "2026-11-21T00:00:00.000Z", "exec", "written")
            return "written"
        except sqlite3.Error as exc:
            return str(exc)
        finally:
            conn.close()
    return as_user("postgres", write)


@ROOT_ONLY
def test_side_files_of_another_user_block_the_writer(shared: Path) -> None:
    shared.chmod(0o777)  # anyone may create files here
    db = owned_store(shared)
    # the exporter, as another user, reads while no writer has the database open
    assert as_user("nobody", lambda: make_backend(
        spec_from(openclaw_spec(db)).stores[0]).collect().memories) == 3
    assert (shared / "oc.sqlite-shm").stat().st_uid == pwd.getpwnam("nobody").pw_uid
    assert postgres_writes(db) == "attempt to write a readonly database"  # the harm
    found = findings_as("postgres", openclaw_spec(db))
    ok, message = found["side-files"]
    pg_uid = pwd.getpwnam("postgres").pw_uid
    assert (ok, message) == (False, (
        f"side files the database's owner uid {pg_uid} (postgres) cannot write: {db}-wal "
        f"(uid 65534 (nobody), mode 644), {db}-shm (uid 65534 (nobody), mode 644); its next "
        "write fails ('attempt to write a readonly database'). A reader of another user left "
        f"them (a read-only reader cannot remove them): while no process has the database "
        f"open (fuser {db}), remove {db}-wal and {db}-shm, and run the exporter as uid "
        f"{pg_uid} (postgres)"))
    # the fix it names: remove them while nothing uses the database; the writer works again
    for suffix in ("-wal", "-shm"):
        os.unlink(f"{db}{suffix}")
    assert postgres_writes(db) == "written"


@ROOT_ONLY
def test_a_reader_that_would_leave_such_side_files_is_told_and_does_not_open(
        shared: Path) -> None:
    shared.chmod(0o777)
    db = owned_store(shared)
    found = findings_as("nobody", openclaw_spec(db))
    ok, message = found["side-files"]
    assert not ok and message.endswith(
        "(the database 0660 in a setgid directory of that group) (no writer has it open "
        "now: doctor did not open it)")
    assert "open" not in found and "collect" not in found
    assert sorted(p.name for p in shared.iterdir()) == ["oc.sqlite"]  # nothing left
    assert postgres_writes(db) == "written"


@ROOT_ONLY
def test_wal_database_in_a_directory_the_reader_may_not_write(shared: Path) -> None:
    db = owned_store(shared)  # shared is 0755 root's: nobody may not create -shm there
    found = findings_as("nobody", openclaw_spec(db))
    assert found["side-files"] == (False, (
        f"{db} is in WAL mode and uid 65534 (nobody) (this user) may not write {shared} "
        f"(its permissions, or a read-only mount): reads work only while a writer keeps "
        f"{db}-shm there; with none open, every collection fails ('attempt to write a "
        f"readonly database'); run the exporter as uid {pwd.getpwnam('postgres').pw_uid} "
        "(postgres), the directory writable"))
    assert found["open"][0] is False
    assert "SQLITE_READONLY_DIRECTORY" not in found["open"][1]
    assert found["open"][1].startswith(f"{db} is in WAL mode, no writer has it open and this "
                                       f"user may not create {db}-shm")
    # while a writer has it open, the read works: the problem is still reported
    writer = as_user_open(db)
    try:
        found = findings_as("nobody", openclaw_spec(db))
        assert found["side-files"][0] is False and found["collect"] == (
            True, "the exporter's collection works: 3 memories")
    finally:
        writer.close()


def as_user_open(db: Path) -> sqlite3.Connection:
    """The writer keeps the database open (root's connection gives its side files to the
    database's owner, as SQLite does when it runs as root)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("SELECT count(*) FROM observations").fetchone()
    return conn


@ROOT_ONLY
def test_a_file_the_reader_may_not_read(shared: Path) -> None:
    db = owned_store(shared, mode=0o600)
    found = findings_as("nobody", openclaw_spec(db))
    assert found["file"] == (False, (
        f"{db} is not readable by uid 65534 (nobody) (this user): it belongs to uid "
        f"{pwd.getpwnam('postgres').pw_uid} (postgres), mode 600; run the exporter as its "
        "owner, or give the exporter's user its group (and g+r)"))


@pytest.fixture
def read_only_mount(shared: Path) -> Iterator[tuple[Path, Path]]:
    """(the directory, a read-only bind mount of it): the compose stack's `:ro` volume."""
    import subprocess

    src, mnt = shared / "src", shared / "mnt"
    src.mkdir()
    mnt.mkdir()
    for argv in (["mount", "--bind", str(src), str(mnt)],
                 ["mount", "-o", "remount,ro,bind", str(mnt)]):
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(mnt)], capture_output=True)
            pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.strip()}")
    try:
        yield src, mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@ROOT_ONLY
def test_wal_database_on_a_read_only_mount(read_only_mount: tuple[Path, Path],
                                           tmp_path: Path) -> None:
    """Even root cannot create the -shm on a read-only mount: the exporter reads only while
    the writer has the database open."""
    src, mnt = read_only_mount
    make_store(src / "oc.sqlite")
    out = doctor(tmp_path, openclaw_spec(mnt / "oc.sqlite"))
    assert out.code == 1
    assert out.message("side-files", "FAIL").startswith(
        f"{mnt}/oc.sqlite is in WAL mode and uid 0 (root) (this user) may not write {mnt} "
        "(its permissions, or a read-only mount)")
    assert out.message("open", "FAIL").startswith(f"{mnt}/oc.sqlite is in WAL mode, no "
                                                  "writer has it open")
    writer = as_user_open(src / "oc.sqlite")
    try:
        out = doctor(tmp_path, openclaw_spec(mnt / "oc.sqlite"))
        assert out.statuses()["side-files"] == "FAIL"  # still: it works only for now
        assert out.message("collect") == "the exporter's collection works: 3 memories"
    finally:
        writer.close()
