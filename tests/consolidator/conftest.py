"""The repository under test: every repository test runs on SQLite, on a real
PostgreSQL 16 (the same cluster the PostgreSQL exporter tests use, one per session,
a fresh database per test) and on MongoDB (the MongoDB tests' server: the bundled
wire emulator, or the real MongoDB of MEMWATCH_TEST_MONGODB_URI; a fresh database per
test, dropped with the run's others at the end)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memwatch.consolidator.repository import Repository
from memwatch.consolidator.sqlite_repo import SqliteRepository

RepoFactory = Callable[[], Repository]


@pytest.fixture(scope="session")
def consolidator_pg() -> Iterator[object]:
    from tests.postgres.cluster import PgCluster

    cluster = PgCluster()
    try:
        cluster.start()
        cluster.create_app_database()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(params=["sqlite", "postgresql", "mongodb"])
def make_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RepoFactory]:
    """Opens (or reopens) the same storage each call; all closed at the end."""
    opened: list[Repository] = []
    if request.param == "sqlite":
        def factory() -> Repository:
            opened.append(SqliteRepository(tmp_path / "c.sqlite"))
            return opened[-1]
    elif request.param == "mongodb":
        from memwatch.consolidator.mongo_repo import MongoRepository

        env = request.getfixturevalue("mongo")
        database = env.db_name(f"c{uuid.uuid4().hex[:12]}")

        def factory() -> Repository:
            opened.append(MongoRepository(env.uri, database))
            return opened[-1]
    else:
        from memwatch.consolidator.postgres_repo import PostgresRepository
        from tests.postgres.cluster import APP_USER

        cluster = request.getfixturevalue("consolidator_pg")
        dbname = f"c_{uuid.uuid4().hex[:12]}"
        cluster.execute(f'CREATE DATABASE {dbname} OWNER "{APP_USER}"',  # type: ignore[attr-defined]
                        dbname="postgres")
        dsn = cluster.dsn(dbname=dbname)  # type: ignore[attr-defined]

        def factory() -> Repository:
            opened.append(PostgresRepository(dsn))
            return opened[-1]
    yield factory
    for repo in opened:
        repo.close()
