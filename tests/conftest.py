"""The real servers every test folder shares, one per session, each started (or built) by
the first test that needs it: the PostgreSQL 16 + pgvector cluster, the MongoDB-wire servers
(the emulator and SecantusDB, one at a time, or the real MongoDB of
MEMWATCH_TEST_MONGODB_URI), and the memory indexes OpenClaw itself builds. Defined here,
once, so tests/incidents and tests/consolidator reuse them instead of starting their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mongodb.conftest import MongoEnv, kind_named, kinds
from tests.openclaw_core import openclaw
from tests.openclaw_core.conftest import DIMS, WORKSPACE, Built
from tests.openclaw_core.openclaw import EmbeddingStub
from tests.postgres.cluster import PgCluster

# The server's own zone is not UTC, so a naive timestamp read in the server's zone (rather
# than in the UTC memwatch asks for) gives a different, wrong, newest time.
SERVER_TIMEZONE = "America/Los_Angeles"


# -- PostgreSQL ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    cluster = PgCluster(extra_settings=[f"timezone={SERVER_TIMEZONE}"])
    try:
        cluster.start()
        cluster.create_app_database()
        yield cluster
    finally:
        cluster.close()  # pg_ctl stop -m fast, even when tests failed


@pytest.fixture(autouse=True)
def _cluster_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with the cluster running and thawed, whatever the previous one
    (an outage test that failed half-way) left behind."""
    if "pg" not in request.fixturenames:
        yield
        return
    cluster: PgCluster = request.getfixturevalue("pg")
    cluster.thaw()
    if not cluster.running:
        cluster.start()
    yield
    cluster.thaw()


# -- MongoDB ---------------------------------------------------------------------------------

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test using `mongo` runs once per server: the emulator, then SecantusDB (or the
    real MongoDB of MEMWATCH_TEST_MONGODB_URI only). The parameter is session-scoped, so
    pytest groups the tests by server: one server runs at a time, and each is stopped (by the
    fixture below) before the next starts. The consolidator's `make_repo` pairs its
    storages with the servers itself (tests/consolidator/conftest.py)."""
    if "mongo" in metafunc.fixturenames and "repo_backend" not in metafunc.fixturenames:
        names = [k.name for k in kinds()]
        metafunc.parametrize("mongo", names, ids=names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def mongo(request: pytest.FixtureRequest) -> Iterator[MongoEnv]:
    """The MongoDB server of the test (see pytest_generate_tests), started on first use."""
    name = getattr(request, "param", None)
    if name is None:
        raise pytest.UsageError("`mongo` is parametrized by tests/conftest.py's "
                                "pytest_generate_tests: request it as a test argument")
    env = MongoEnv(kind_named(name))
    try:
        yield env
    finally:
        env.close()


# -- OpenClaw's builtin memory ---------------------------------------------------------------

def _build(tmp: Path, legacy: bool, dims: int | None) -> Built:
    if reason := openclaw.missing(legacy):
        pytest.skip(reason)
    workspace = openclaw.write_workspace(tmp / "ws", WORKSPACE)
    home = tmp / "home"
    if dims is None:
        db = openclaw.index_memory(workspace, home, legacy=legacy)
    else:
        with EmbeddingStub(dims=dims) as stub:
            db = openclaw.index_memory(workspace, home, embeddings=stub, legacy=legacy)
    return Built(home, workspace, db, legacy, dims)


@pytest.fixture(scope="session")
def current(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """openclaw 2026.9.6, embeddings from the stub (8 dimensions)."""
    return _build(tmp_path_factory.mktemp("oc-current"), legacy=False, dims=DIMS)


@pytest.fixture(scope="session")
def fts_only(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """openclaw 2026.9.6 with memory search provider `none`."""
    return _build(tmp_path_factory.mktemp("oc-fts"), legacy=False, dims=None)


@pytest.fixture(scope="session")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """openclaw 2026.6.8 (the legacy index), embeddings from the stub (4 dimensions)."""
    return _build(tmp_path_factory.mktemp("oc-legacy"), legacy=True, dims=4)
