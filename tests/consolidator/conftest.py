"""The repository under test: every repository test runs on SQLite, on a real
PostgreSQL 16 (a cluster of the consolidator tests, one per session, a fresh database per
test) and on MongoDB: on each of the MongoDB tests' servers (ids `mongodb-emulator` and
`mongodb-secantus`: the bundled wire emulator and SecantusDB), or only on the real MongoDB of
MEMWATCH_TEST_MONGODB_URI (id `mongodb`); a fresh database per test, dropped with the run's
others at the end."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memwatch.consolidator.storage.base import Repository
from memwatch.consolidator.storage.sqlite import SqliteRepository
from tests.mongodb.conftest import MongoEnv, kinds

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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`make_repo`'s storages, each with a MongoDB server: the SQLite and PostgreSQL cases
    carry the first server without using it (it is not started for them), the MongoDB case
    runs once per server. One parametrization of both, session-scoped like `mongo`'s own
    (tests/conftest.py), so pytest orders these tests with the other tests of each server
    and no server is started twice."""
    if "repo_backend" not in metafunc.fixturenames:
        return
    servers = [k.name for k in kinds()]
    params = [pytest.param(backend, servers[0], id=backend)
              for backend in ("sqlite", "postgresql")]
    # one value per server (the id), not "mongodb" for all: pytest groups tests by value,
    # and a value shared by two servers would pull one server's tests into the other's
    params += [pytest.param(ident, name, id=ident) for name in servers
               for ident in ["mongodb" if len(servers) == 1 else f"mongodb-{name}"]]
    metafunc.parametrize(("repo_backend", "mongo"), params, indirect=True, scope="session")


@pytest.fixture(scope="session")
def repo_backend(request: pytest.FixtureRequest) -> str:
    """"sqlite", "postgresql" or "mongodb[-SERVER]" (see pytest_generate_tests)."""
    return str(request.param)


@pytest.fixture
def make_repo(repo_backend: str, mongo: MongoEnv, request: pytest.FixtureRequest,
              tmp_path: Path) -> Iterator[RepoFactory]:
    """Opens (or reopens) the same storage each call; all closed at the end."""
    opened: list[Repository] = []
    if repo_backend == "sqlite":
        def factory() -> Repository:
            opened.append(SqliteRepository(tmp_path / "c.sqlite"))
            return opened[-1]
    elif repo_backend.startswith("mongodb"):
        from memwatch.consolidator.storage.mongodb import MongoRepository

        uri, database = mongo.uri, mongo.db_name(f"c{uuid.uuid4().hex[:12]}")

        def factory() -> Repository:
            opened.append(MongoRepository(uri, database))
            return opened[-1]
    else:
        from memwatch.consolidator.storage.postgresql import PostgresRepository
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
