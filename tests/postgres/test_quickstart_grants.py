"""The quickstart's grants survive mem0's reset(): each SQL block of docs/quickstart-mem0.md,
read from the file and run as written, then the table dropped and created again by mem0's
role as reset() does, and the exporter still reads it (memwatch_up 1, no `permission`).
The grant the quickstart used to give (SELECT on the table only) is lost that way: proved
here too, so the test can tell the two apart."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from tests.helpers import Scrape, exporter_for
from tests.postgres.cluster import PgCluster
from tests.postgres.conftest import mem0_spec
from tests.postgres.owndb import Db, database, db, mem0_table

__all__ = ["database", "db"]  # fixtures

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart-mem0.md"
S = {"store": "mem0"}


def sql_blocks() -> dict[str, str]:
    """The quickstart's SQL blocks by what they grant."""
    blocks = re.findall(r"```sql\n(.*?)```", QUICKSTART.read_text(), re.S)
    found = {"default-privileges": [b for b in blocks if "ALTER DEFAULT PRIVILEGES" in b],
             "pg_read_all_data": [b for b in blocks if "pg_read_all_data" in b]}
    assert all(len(v) == 1 for v in found.values()), blocks
    return {k: v[0] for k, v in found.items()}


def statements(block: str) -> list[str]:
    lines = [line.split("--")[0] for line in block.splitlines()]
    return [s.strip() for s in " ".join(lines).split(";") if s.strip()]


def reads_after_reset(pg: PgCluster, database: Db, block: str) -> list[tuple[float | None, ...]]:
    """mem0 (role `mem0`, as the quickstart names it) holds 40 memories; `block` runs as a
    superuser, with a real password for its '...'; the exporter, as `memwatch_ro`, scrapes
    before and after reset() and after mem0 writes again: (up, memories, table_exists,
    permission errors) each time."""
    password = secrets.token_hex(8)
    database.roles += ["memwatch_ro", "mem0"]
    pg.execute("CREATE ROLE mem0 NOLOGIN", dbname="postgres")
    mem0_table(pg, database.name, "mem0", n=40)
    for statement in statements(block):
        pg.execute(statement.replace("'...'", f"'{password}'"), dbname=database.name)
    spec = mem0_spec(pg, dsn=pg.dsn(user="memwatch_ro", password=password,
                                    dbname=database.name))
    seen = []
    with exporter_for(spec) as exp:
        for rows in (None, 0, 7):
            if rows is not None:
                mem0_table(pg, database.name, "mem0", n=rows)  # reset(): DROP + CREATE
            got = Scrape(exp)
            seen.append((got("memwatch_up", backend="postgresql", **S),
                         got("memwatch_store_memories", **S),
                         got("memwatch_table_exists", **S),
                         got("memwatch_collection_errors_total", reason="permission", **S)))
    return seen


@pytest.mark.parametrize("grants", ["default-privileges", "pg_read_all_data"])
def test_quickstart_grants_survive_reset(pg: PgCluster, database: Db, grants: str) -> None:
    assert reads_after_reset(pg, database, sql_blocks()[grants]) == [
        (1, 40, 1, 0), (1, 0, 1, 0), (1, 7, 1, 0)]


def test_a_grant_on_the_table_alone_is_lost_by_reset(pg: PgCluster, database: Db) -> None:
    """What the quickstart said before: without its ALTER DEFAULT PRIVILEGES line, the
    first scrape after reset() is `permission` (and MemoryDatabaseDown would fire)."""
    block = sql_blocks()["default-privileges"]
    old = "\n".join(line for line in block.splitlines()
                    if "ALTER DEFAULT PRIVILEGES" not in line)
    seen = reads_after_reset(pg, database, old)
    assert seen[0] == (1, 40, 1, 0)
    assert [(up, errors) for up, _, _, errors in seen[1:]] == [(0, 1), (0, 2)]
