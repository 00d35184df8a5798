"""Doctor checks for the PostgreSQL stores (mem0-pgvector, sql with backend postgresql).

Connects through the store's own backend (`PostgresBackend._connect`: the same DSN and
secret resolution, timeouts, read-only session and error classification as the exporter),
reads only the catalog, then runs one collection with the exporter's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from memwatch import secrets
from memwatch.backends.postgres import PostgresBackend, classify
from memwatch.backends.registry import make_backend
from memwatch.doctor import Report, base_columns, collect
from memwatch.errors import CollectionError, SecretError
from memwatch.spec import Mem0PgvectorStore, SqlStore, StoreBase

Cursor = psycopg.Cursor[Any]
# mem0's table: the columns its queries read, with the type mem0 creates them with
MEM0_COLUMNS = {"id": "uuid", "vector": "vector", "payload": "jsonb"}
# mem0's siblings that look like its table but are not memories
MEM0_SIBLINGS = "c.relname NOT LIKE '%%\\_entities' AND c.relname <> 'mem0migrations'"
USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') " \
               "AND n.nspname NOT LIKE 'pg\\_%%'"


@dataclass(frozen=True)
class Table:
    oid: int
    schema: str
    name: str
    owner: str
    owner_oid: int
    schema_oid: int

    @property
    def qualified(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name)}"


def quote(name: str) -> str:
    """An identifier as it can be pasted into SQL."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace(
        '"', '""') + '"'


def check_postgres(store: StoreBase, report: Report) -> None:
    assert isinstance(store, Mem0PgvectorStore | SqlStore)
    backend = make_backend(store)
    assert isinstance(backend, PostgresBackend)
    try:
        if _catalog(store, backend, report):
            collect(backend, report)
    finally:
        backend.close()


def _catalog(store: Mem0PgvectorStore | SqlStore, backend: PostgresBackend,
             report: Report) -> bool:
    """The connection and catalog checks; True when a collection is worth trying."""
    try:
        conn = backend._connect()
    except CollectionError as err:
        report.fail("connect", connect_problem(store, err, backend.timeout))
        return False
    try:
        with conn.cursor() as cur:
            return _checks(store, cur, report, conn)
    except psycopg.Error as exc:
        problem = classify(exc)
        report.fail("catalog", f"reading the catalog failed ({problem.reason}): {problem}")
        return False
    finally:
        conn.close()


def _checks(store: Mem0PgvectorStore | SqlStore, cur: Cursor, report: Report,
            conn: psycopg.Connection[Any]) -> bool:
    info = conn.info
    cur.execute("SELECT current_setting('server_version'), "
                "current_setting('transaction_read_only')")
    version, read_only = cur.fetchone() or ("?", "off")
    report.ok("connect", f"connected to {info.host}:{info.port}/{info.dbname} as "
                         f"{info.user} (PostgreSQL {version})")
    if read_only == "on":
        report.ok("session", "the session is read-only (default_transaction_read_only)")
    else:
        report.fail("session", "the session is not read-only: the server or a pooler "
                    "dropped the exporter's `-c default_transaction_read_only=on` option; "
                    "set it for the role too: ALTER ROLE "
                    f"{quote(info.user)} SET default_transaction_read_only = on;")
    schema = store.schema_ or "public"
    table = find_table(cur, schema, store.table)
    if table is None:
        report.fail("table", missing_table(cur, store, schema, info.dbname))
        return False
    check_columns(cur, store, table, report)
    check_privileges(cur, store, table, report)
    return True  # the collection then shows what the exporter makes of it


def connect_problem(store: Mem0PgvectorStore | SqlStore, err: CollectionError,
                    timeout: float) -> str:
    """What a failed connection means, with the fix; never the password."""
    where = target(store)
    at = f" at {where['host']}:{where['port']}" if where else ""
    user, db = where.get("user", "?"), where.get("dbname", "?")
    text = str(err)
    if err.reason == "config":
        return text + (": set it in the exporter's environment" if "environment" in text
                       else ": check the path, and that this user may read the file")
    if err.reason == "auth":
        return (f"authentication failed for role {user}{at}: check the password (the "
                f"DSN's, `password` or `password_file`) and pg_hba.conf for this "
                f"client's address ({text})")
    if err.reason == "missing":
        return f"database {db} does not exist{at}: fix the database name in the DSN ({text})"
    if "permission denied" in text.lower():
        return (f"role {user} may not connect to database {db}{at}: GRANT CONNECT ON "
                f"DATABASE {quote(db)} TO {quote(user)}; ({text})")
    if err.reason == "timeout":
        return (f"no answer{at} within {min(timeout, store.connect_timeout):g}s: a firewall "
                f"dropping packets, or the server overloaded ({text})")
    host = where.get("host", "HOST")
    return (f"cannot reach the server{at}: {text}; check host, port and sslmode in the DSN "
            f"(pg_isready -h {host} -p {where.get('port', 'PORT')})")


def target(store: Mem0PgvectorStore | SqlStore) -> dict[str, str]:
    """host, port, user and dbname of the DSN (never its password); {} if unreadable."""
    try:
        dsn = secrets.resolve(store.dsn, store.dsn_file, "dsn") or ""
        parts = conninfo_to_dict(dsn)
    except (SecretError, psycopg.Error):
        return {}
    out = {k: str(parts[k]) for k in ("host", "port", "user", "dbname") if parts.get(k)}
    out.setdefault("host", "localhost")
    out.setdefault("port", "5432")
    return out


def find_table(cur: Cursor, schema: str, name: str) -> Table | None:
    cur.execute("SELECT c.oid, n.nspname, c.relname, pg_get_userbyid(c.relowner), "
                "c.relowner, n.oid FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s "
                "AND c.relkind IN ('r', 'p')", (schema, name))
    row = cur.fetchone()
    return None if row is None else Table(*row)


def missing_table(cur: Cursor, store: Mem0PgvectorStore | SqlStore, schema: str,
                  dbname: str) -> str:
    qualified = f"{quote(schema)}.{quote(store.table)}"
    if isinstance(store, Mem0PgvectorStore):
        cur.execute("SELECT n.nspname, c.relname FROM pg_attribute a JOIN pg_class c "
                    "ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE a.attname = 'payload' AND a.atttypid = 'jsonb'::regtype "
                    "AND NOT a.attisdropped AND c.relkind IN ('r', 'p') "
                    f"AND {USER_SCHEMAS} AND {MEM0_SIBLINGS} "
                    "ORDER BY n.nspname <> %s, n.nspname <> 'public', n.nspname, c.relname "
                    "LIMIT 10", (schema,))
        alike = "tables with a payload jsonb column"
        none = (f"no table of database {dbname} has a payload jsonb column: mem0 creates "
                "its table on its first add() (and reset() drops it); if mem0 has written, "
                "the DSN names another database than mem0's")
    else:
        needed = sorted(base_columns(store))
        cur.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                    f"ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND "
                    f"{USER_SCHEMAS} AND (c.relname = %s OR (cardinality(%s::text[]) > 0 "
                    "AND (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND "
                    "NOT a.attisdropped AND a.attname = ANY(%s)) = cardinality(%s::text[])))"
                    " ORDER BY c.relname <> %s, n.nspname <> %s, n.nspname, c.relname "
                    "LIMIT 10", (store.table, needed, needed, needed, store.table, schema))
        alike = "tables named so, or with the columns the spec names"
        none = f"no table of database {dbname} is named so or has the columns the spec names"
    rows = cur.fetchall()
    if not rows:
        return f"table {qualified} does not exist; {none}"
    listed = ", ".join(f"{quote(s)}.{quote(t)}" for s, t in rows)
    s0, t0 = rows[0]
    hint = f"set table: {t0}" if s0 == schema else f"set schema: {s0} and table: {t0}"
    return f"table {qualified} does not exist; {alike}: {listed} ({hint})"


def check_columns(cur: Cursor, store: Mem0PgvectorStore | SqlStore, table: Table,
                  report: Report) -> None:
    cur.execute("SELECT attname, atttypid::regtype::text FROM pg_attribute WHERE "
                "attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (table.oid,))
    have = dict(cur.fetchall())
    problems: list[str] = []
    if isinstance(store, Mem0PgvectorStore):
        for col, kind in MEM0_COLUMNS.items():
            if col not in have:
                problems.append(f"no column {col}")
            elif have[col] != kind:
                problems.append(f"column {col} is {have[col]}, mem0 writes {kind}")
        expected = "mem0's table has id uuid, vector vector(N), payload jsonb"
    else:
        json_refs = {r.split(".")[0] for r in (store.namespace, store.timestamp,
                                               *(c.column for c in store.filter))
                     if r and "." in r}
        for col in sorted(base_columns(store)):
            if col not in have:
                problems.append(f"no column {col}")
            elif col in json_refs and have[col] not in ("json", "jsonb"):
                problems.append(f"column {col} is {have[col]}, not json/jsonb (the spec "
                                "reads a key of it)")
        expected = "the spec's namespace, timestamp and filter name them"
    if problems:
        report.fail("columns", f"table {table.qualified}: {'; '.join(problems)} (it has: "
                               f"{', '.join(have) or 'no columns'}); {expected}")
        return
    report.ok("columns", f"table {table.qualified} has the columns the exporter reads")


def check_privileges(cur: Cursor, store: Mem0PgvectorStore | SqlStore, table: Table,
                     report: Report) -> None:
    """SELECT now, and (mem0) whether it outlives reset()'s DROP TABLE + CREATE TABLE."""
    cur.execute("SELECT current_user, has_schema_privilege(%s::oid, 'USAGE'), "
                "has_table_privilege(%s::oid, 'SELECT')", (table.schema_oid, table.oid))
    me, usage, select = cur.fetchone() or ("?", False, False)
    grants: list[str] = []
    if not usage:
        grants.append(f"GRANT USAGE ON SCHEMA {quote(table.schema)} TO {quote(me)};")
    if not select:
        grants.append(f"GRANT SELECT ON {table.qualified} TO {quote(me)};")
    if grants:
        report.fail("privileges", f"role {me} may not read {table.qualified} (the exporter "
                                  f"reports `permission`): {' '.join(grants)} "
                                  f"and, so that it outlives a drop-and-recreate, "
                                  f"{survival_fix(table, me)}")
        return
    if not isinstance(store, Mem0PgvectorStore):
        report.ok("privileges", f"role {me} may read {table.qualified}")
        return
    why = survives_recreate(cur, table)
    if why is None:
        report.fail("privileges", f"role {me} reads {table.qualified} by a grant on this "
                    "table only: it will not survive mem0's reset() (DROP + CREATE), after "
                    "which the exporter reports `permission` and MemoryDatabaseDown hides "
                    f"MemoryCountZero; {survival_fix(table, me)}")
    else:
        report.ok("privileges", f"role {me} may read {table.qualified}, also after "
                                f"mem0's reset() recreates it ({why})")


def survival_fix(table: Table, me: str) -> str:
    return (f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote(table.owner)} IN SCHEMA "
            f"{quote(table.schema)} GRANT SELECT ON TABLES TO {quote(me)}; (as "
            f"{table.owner} or a superuser) or, PostgreSQL 14+, GRANT pg_read_all_data "
            f"TO {quote(me)};")


def survives_recreate(cur: Cursor, table: Table) -> str | None:
    """Why SELECT would hold on a table the owner creates anew, or None."""
    cur.execute("SELECT rolsuper, pg_has_role(%s::oid, 'USAGE'), "
                "current_setting('server_version_num')::int >= 140000 "
                "FROM pg_roles WHERE rolname = current_user", (table.owner_oid,))
    superuser, owner, v14 = cur.fetchone() or (False, False, False)
    if superuser:
        return "a superuser"
    if owner:
        return f"it is, or inherits, the table's owner {table.owner}"
    if v14:
        cur.execute("SELECT pg_has_role('pg_read_all_data', 'USAGE')")
        if (cur.fetchone() or (False,))[0]:
            return "a member of pg_read_all_data"
    # per-schema default privileges add to the global ones (namespace 0)
    cur.execute("SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
                "ELSE pg_get_userbyid(a.grantee) END, d.defaclnamespace <> 0 "
                "FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a "
                "WHERE d.defaclrole = %s AND d.defaclobjtype = 'r' "
                "AND d.defaclnamespace IN (0, %s) AND a.privilege_type = 'SELECT' "
                "AND (a.grantee = 0 OR pg_has_role(a.grantee, 'USAGE')) LIMIT 1",
                (table.owner_oid, table.schema_oid))
    row = cur.fetchone()
    if row is None:
        return None
    scope = f"in schema {table.schema}" if row[1] else "in every schema"
    return f"{table.owner}'s default privileges {scope} grant SELECT to {row[0]}"
