"""A database of one test's own on the session's PostgreSQL, its roles, and mem0's table
created as mem0 creates it (and as reset() recreates it), by the role mem0 connects as."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.postgres import mem0data
from tests.postgres.cluster import PgCluster


class Db:
    """A database of one test's own, with pgvector, and the roles the test made."""

    def __init__(self, pg: PgCluster) -> None:
        self.pg = pg
        self.name = f"doctor_{uuid.uuid4().hex[:8]}"
        self.roles: list[str] = []
        pg.execute(f"CREATE DATABASE {self.name}", dbname="postgres")
        pg.execute("CREATE EXTENSION vector", dbname=self.name)

    def role(self, kind: str, password: str | None = None) -> str:
        name = f"{kind}_{uuid.uuid4().hex[:6]}"
        login = f"LOGIN PASSWORD '{password}'" if password else "NOLOGIN"
        self.pg.execute(f"CREATE ROLE {name} {login}", dbname="postgres")
        self.roles.append(name)
        return name

    def drop(self) -> None:
        self.pg.execute(f"DROP DATABASE {self.name} WITH (FORCE)", dbname="postgres")
        for name in self.roles:
            self.pg.execute(f"DROP ROLE IF EXISTS {name}", dbname="postgres")


@pytest.fixture
def database(pg: PgCluster) -> Iterator[Db]:
    made = Db(pg)
    try:
        yield made
    finally:
        made.drop()


@pytest.fixture
def db(database: Db) -> str:
    return database.name


def mem0_table(pg: PgCluster, db: str, owner: str | None = None, table: str = "memories",
               schema: str = "public", n: int = 40) -> None:
    """mem0's table as mem0 creates it (reset() too: DROP, then CREATE), as `owner`."""
    with pg.session(db) as conn:
        if owner:
            conn.execute(f"GRANT CREATE ON SCHEMA {schema} TO {owner}")
            conn.execute(f"SET ROLE {owner}")
        data = mem0data.generate(n, users=5, seed=7) if n else None
        mem0data.create_table(conn, table, data, schema=schema, dim=3)
