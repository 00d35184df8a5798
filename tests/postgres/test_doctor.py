"""`memwatch doctor` against the real PostgreSQL 16 + pgvector: each failure named with its
fix (a missing table with the tables that look like mem0's, missing columns, a grant that
will not survive mem0's reset() against default privileges and pg_read_all_data, a wrong
password, an unreachable server, a missing database, a session that is not read-only), and
the OK path. Each test has a database of its own, dropped afterwards, so the tables listed
are exactly the test's."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from memwatch.backends.postgres import PostgresBackend
from memwatch.backends.registry import make_backend
from memwatch.doctor import Report
from memwatch.doctor.postgres import _checks
from tests.doctor_support import doctor
from tests.helpers import spec_from
from tests.postgres.cluster import APP_PASSWORD, APP_USER, PgCluster, free_port
from tests.postgres.conftest import mem0_spec
from tests.postgres.owndb import Db, database, db, mem0_table

__all__ = ["database", "db"]  # fixtures

PASSWORD = "Rdr-pw-7f3Q"


def run(pg: PgCluster, tmp_path: Path, db: str, user: str = APP_USER,
        password: str = APP_PASSWORD, **keys: str) -> tuple[int, dict[str, str], str]:
    text = mem0_spec(pg, dsn=pg.dsn(user=user, password=password, dbname=db), **keys)
    out = doctor(tmp_path, text)
    return out.code, {r["check"]: f"{r['status']} {r['message']}" for r in out.rows}, out.text


def test_ok(pg: PgCluster, db: str, tmp_path: Path) -> None:
    pg.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO memwatch",
               dbname=db)
    mem0_table(pg, db)
    code, found, text = run(pg, tmp_path, db)
    assert code == 0, text
    assert found == {
        "connect": f"OK connected to 127.0.0.1:{pg.port}/{db} as memwatch (PostgreSQL 16.2)",
        "session": "OK the session is read-only (default_transaction_read_only)",
        "columns": "OK table public.memories has the columns the exporter reads",
        "privileges": "OK role memwatch may read public.memories, also after mem0's reset() "
                      "recreates it (postgres's default privileges in schema public grant "
                      "SELECT to memwatch)",
        "collect": "OK the exporter's collection works: 40 memories",
    }


def test_text_output_one_line_per_check(pg: PgCluster, db: str, tmp_path: Path) -> None:
    mem0_table(pg, db)
    text = mem0_spec(pg, dsn=pg.dsn(dbname=db), table="mem0")
    out = doctor(tmp_path, text, fmt="text")
    assert out.code == 1
    assert out.text.splitlines() == [
        f"mem0  OK    connected to 127.0.0.1:{pg.port}/{db} as memwatch (PostgreSQL 16.2)",
        "mem0  OK    the session is read-only (default_transaction_read_only)",
        "mem0  FAIL  table public.mem0 does not exist; tables with a payload jsonb column: "
        "public.memories (set table: memories)",
    ]


def test_missing_table_lists_mem0_like_tables_not_its_siblings(
        pg: PgCluster, db: str, tmp_path: Path) -> None:
    mem0_table(pg, db)
    mem0_table(pg, db, table="memories_entities", n=0)  # mem0's, but not memories
    mem0_table(pg, db, table="mem0migrations", n=0)
    pg.execute("CREATE SCHEMA archive", dbname=db)
    mem0_table(pg, db, schema="archive", n=0)
    pg.execute("CREATE TABLE public.notes (id int, payload text)", dbname=db)  # not jsonb
    code, found, _ = run(pg, tmp_path, db, table="mem0")
    assert code == 1
    assert found["table"] == ("FAIL table public.mem0 does not exist; tables with a payload "
                              "jsonb column: public.memories, archive.memories "
                              "(set table: memories)")
    assert "collect" not in found  # nothing further to ask
    _, found, _ = run(pg, tmp_path, db, table="mem0", schema="other")
    assert found["table"].endswith("public.memories, archive.memories (set schema: public "
                                   "and table: memories)")


def test_no_table_at_all_says_mem0_creates_it_lazily(pg: PgCluster, db: str,
                                                     tmp_path: Path) -> None:
    code, found, _ = run(pg, tmp_path, db)
    assert code == 1
    assert found["table"] == (
        f"FAIL table public.memories does not exist; no table of database {db} has a "
        "payload jsonb column: mem0 creates its table on its first add() (and reset() drops "
        "it); if mem0 has written, the DSN names another database than mem0's")


@pytest.mark.parametrize(("columns", "problem"), [
    ("id uuid, vector vector(3), body text", "no column payload"),
    ("id uuid, vector vector(3), payload json", "column payload is json, mem0 writes jsonb"),
    ("id uuid, payload jsonb", "no column vector"),
])
def test_missing_or_mistyped_column(pg: PgCluster, db: str, tmp_path: Path, columns: str,
                                    problem: str) -> None:
    pg.execute(f"CREATE TABLE public.memories ({columns})", dbname=db)
    pg.execute("GRANT SELECT ON public.memories TO memwatch", dbname=db)
    code, found, _ = run(pg, tmp_path, db)
    assert code == 1
    names = ", ".join(c.split()[0] for c in columns.split(", "))
    assert found["columns"] == (f"FAIL table public.memories: {problem} (it has: {names}); "
                                "mem0's table has id uuid, vector vector(N), payload jsonb")


def statements(message: str) -> list[str]:
    """The SQL statements a doctor message proposes."""
    return re.findall(r"((?:GRANT|ALTER DEFAULT PRIVILEGES)[^;]*;)", message)


def test_a_table_grant_does_not_survive_reset_and_the_proposed_fix_does(
        pg: PgCluster, db: str, database: Db, tmp_path: Path) -> None:
    owner, reader = database.role("mem0own"), database.role("reader", PASSWORD)
    mem0_table(pg, db, owner)
    pg.execute(f"GRANT SELECT ON public.memories TO {reader}", dbname=db)
    code, found, _ = run(pg, tmp_path, db, reader, PASSWORD)
    assert code == 1
    fix = (f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT SELECT ON "
           f"TABLES TO {reader}; (as {owner} or a superuser) or, PostgreSQL 14+, GRANT "
           f"pg_read_all_data TO {reader};")
    assert found["privileges"] == (
        f"FAIL role {reader} reads public.memories by a grant on this table only: it will "
        "not survive mem0's reset() (DROP + CREATE), after which the exporter reports "
        f"`permission` and MemoryDatabaseDown hides MemoryCountZero; {fix}")
    assert found["collect"] == "OK the exporter's collection works: 40 memories"
    # what it foretold: after reset(), the role reads nothing
    mem0_table(pg, db, owner, n=0)
    code, found, _ = run(pg, tmp_path, db, reader, PASSWORD)
    assert code == 1
    assert found["privileges"] == (
        f"FAIL role {reader} may not read public.memories (the exporter reports "
        f"`permission`): GRANT SELECT ON public.memories TO {reader}; and, so that it "
        f"outlives a drop-and-recreate, {fix}")
    assert found["collect"].startswith("FAIL the exporter's collection fails (reason "
                                       "permission): permission denied for table memories")
    # the statements it proposes, run as written (the first of the two alternatives)
    for statement in statements(found["privileges"])[:2]:
        pg.execute(statement, dbname=db)
    for rows in (0, 3):  # and they hold through another reset()
        code, found, text = run(pg, tmp_path, db, reader, PASSWORD)
        assert code == 0, text
        assert found["privileges"] == (
            f"OK role {reader} may read public.memories, also after mem0's reset() "
            f"recreates it ({owner}'s default privileges in schema public grant SELECT to "
            f"{reader})")
        assert found["collect"] == f"OK the exporter's collection works: {rows} memories"
        mem0_table(pg, db, owner, n=3)


def test_pg_read_all_data_survives_reset(pg: PgCluster, db: str, database: Db,
                                        tmp_path: Path) -> None:
    owner, reader = database.role("mem0own"), database.role("reader", PASSWORD)
    mem0_table(pg, db, owner, n=5)
    pg.execute(f"GRANT pg_read_all_data TO {reader}", dbname=db)
    for rows in (5, 0):
        code, found, text = run(pg, tmp_path, db, reader, PASSWORD)
        assert code == 0, text
        assert found["privileges"] == (f"OK role {reader} may read public.memories, also "
                                       "after mem0's reset() recreates it (a member of "
                                       "pg_read_all_data)")
        assert found["collect"] == f"OK the exporter's collection works: {rows} memories"
        mem0_table(pg, db, owner, n=0)


def test_default_privileges_of_another_role_do_not_count(
        pg: PgCluster, db: str, database: Db, tmp_path: Path) -> None:
    """Default privileges apply to the tables their role creates: the superuser's do not
    cover a table mem0's own role recreates."""
    owner, reader = database.role("mem0own"), database.role("reader", PASSWORD)
    mem0_table(pg, db, owner, n=5)
    pg.execute(f"GRANT SELECT ON public.memories TO {reader}", dbname=db)
    pg.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {reader}",
               dbname=db)  # the superuser's own, for the tables it creates
    code, found, _ = run(pg, tmp_path, db, reader, PASSWORD)
    assert code == 1 and found["privileges"].startswith(
        f"FAIL role {reader} reads public.memories by a grant on this table only")
    mem0_table(pg, db, owner, n=0)  # and indeed
    _, found, _ = run(pg, tmp_path, db, reader, PASSWORD)
    assert "(reason permission)" in found["collect"]


def test_wrong_password_is_authentication_without_the_password(
        pg: PgCluster, db: str, tmp_path: Path) -> None:
    wrong = "Wr0ng-pw-QX9z"
    for fmt in ("json", "text"):
        out = doctor(tmp_path, mem0_spec(pg, dsn=pg.dsn(password=wrong, dbname=db)), fmt=fmt)
        assert out.code == 1
        assert wrong not in out.text and APP_PASSWORD not in out.text
    assert out.text.startswith(
        f"mem0  FAIL  authentication failed for role memwatch at 127.0.0.1:{pg.port}: check "
        "the password (the DSN's, `password` or `password_file`) and pg_hba.conf for this "
        "client's address (")
    assert 'password authentication failed for user "memwatch"' in out.text
    assert len(out.text.splitlines()) == 1


def test_unreachable_and_missing_database(pg: PgCluster, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    out = doctor(tmp_path, mem0_spec(pg, dsn=pg.dsn(port=port)))
    assert out.code == 1 and [r["check"] for r in out.rows] == ["connect"]
    message = out.message("connect", "FAIL")
    assert message.startswith(f"cannot reach the server at 127.0.0.1:{port}: ")
    assert "Connection refused" in message
    assert message.endswith(f"; check host, port and sslmode in the DSN (pg_isready -h "
                            f"127.0.0.1 -p {port})")
    out = doctor(tmp_path, mem0_spec(pg, dsn=pg.dsn(dbname="no_such_db")))
    assert out.code == 1
    assert out.message("connect", "FAIL").startswith(
        f"database no_such_db does not exist at 127.0.0.1:{pg.port}: fix the database name")


def test_unset_dsn_variable(pg: PgCluster, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMWATCH_DOCTOR_UNSET", raising=False)
    out = doctor(tmp_path, mem0_spec(pg, dsn="env:MEMWATCH_DOCTOR_UNSET"))
    assert out.code == 1
    assert out.message("connect", "FAIL") == (
        "dsn: environment variable MEMWATCH_DOCTOR_UNSET is not set: set it in the "
        "exporter's environment")


def test_unreadable_dsn_file(pg: PgCluster, tmp_path: Path) -> None:
    out = doctor(tmp_path, mem0_spec(pg, dsn_file=str(tmp_path / "nope")))
    assert out.code == 1
    assert out.message("connect", "FAIL") == (
        f"dsn: cannot read {tmp_path}/nope: No such file or directory: check the path, and "
        "that this user may read the file")


def test_a_session_that_is_not_read_only(pg: PgCluster, db: str) -> None:
    """The check itself, on the exporter's connection and on one opened without its
    read-only option (what a pooler that drops startup options would give)."""
    mem0_table(pg, db)
    store = spec_from(mem0_spec(pg, dsn=pg.dsn(dbname=db))).stores[0]
    backend = make_backend(store)
    assert isinstance(backend, PostgresBackend)
    plain = psycopg.connect(pg.dsn(dbname=db))
    try:
        for conn, expected in ((backend._connect(), True), (plain, False)):
            report = Report("mem0")
            with conn.cursor() as cur:
                _checks(store, cur, report, conn)  # type: ignore[arg-type]
            session = [f for f in report.findings if f.check == "session"]
            assert [f.ok for f in session] == [expected]
            if not expected:
                assert session[0].message == (
                    "the session is not read-only: the server or a pooler dropped the "
                    "exporter's `-c default_transaction_read_only=on` option; set it for the "
                    "role too: ALTER ROLE memwatch SET default_transaction_read_only = on;")
            conn.close()
    finally:
        plain.close()
        backend.close()


def test_sql_preset_missing_table_and_column(pg: PgCluster, db: str, tmp_path: Path) -> None:
    pg.execute("CREATE SCHEMA archive", dbname=db)
    pg.execute("CREATE TABLE archive.notes (id int, owner text, ts timestamptz)", dbname=db)
    pg.execute("GRANT USAGE ON SCHEMA archive TO memwatch", dbname=db)
    pg.execute("GRANT SELECT ON archive.notes TO memwatch", dbname=db)

    def spec(schema: str, namespace: str) -> str:
        return (f"stores:\n  - name: notes\n    preset: sql\n    backend: postgresql\n"
                f"    dsn: '{pg.dsn(dbname=db)}'\n    table: notes\n{schema}"
                f"    namespace: {namespace}\n    timestamp: ts\n")

    out = doctor(tmp_path, spec("", "owner"))
    assert out.code == 1
    assert out.message("table") == (
        "table public.notes does not exist; tables named so, or with the columns the spec "
        "names: archive.notes (set schema: archive and table: notes)")
    out = doctor(tmp_path, spec("    schema: archive\n", "agent"))
    assert out.code == 1
    assert out.message("columns") == (
        "table archive.notes: no column agent (it has: id, owner, ts); the spec's namespace, "
        "timestamp and filter name them")
    out = doctor(tmp_path, spec("    schema: archive\n", "owner"))
    assert out.code == 0, out.text
    assert out.message("privileges") == "role memwatch may read archive.notes"
    assert out.message("collect") == "the exporter's collection works: 0 memories"


def test_spec_errors_exit_2(pg: PgCluster, tmp_path: Path) -> None:
    out = doctor(tmp_path, "stores: []\n")
    assert out.code == 2 and "stores" in out.text
    out = doctor(tmp_path, mem0_spec(pg), "--store", "nope")
    assert out.code == 2 and "no store named nope" in out.text
