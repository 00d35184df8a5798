"""A dead, locked or hung database never hangs a scrape: /metrics answers within the store's
timeout + 1 s with memwatch_up 0 and the failure counted, and the store recovers on the
first scrape (one retry allowed) after the database is back.

The time bound is the brief's correctness bound, measured with time.monotonic() around a
real HTTP scrape; it is not a benchmark."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from memwatch.errors import REASONS
from tests.helpers import exporter_for, get, serving
from tests.postgres import mem0data
from tests.postgres.cluster import PgCluster
from tests.postgres.conftest import mem0_spec
from tests.postgres.mem0data import Mem0Data

TIMEOUT = 2.0
BOUND = TIMEOUT + 1.0
TABLE = "outage_memories"


class HttpScrape:
    """One GET /metrics, timed, parsed."""

    def __init__(self, url: str) -> None:
        start = time.monotonic()
        status, _, body = get(f"{url}/metrics", timeout=30)
        self.elapsed = time.monotonic() - start
        assert status == 200
        self.data: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for fam in text_string_to_metric_families(body):
            for s in fam.samples:
                self.data[(s.name, frozenset(s.labels.items()))] = s.value

    def __call__(self, name: str, **labels: str) -> float | None:
        return self.data.get((name, frozenset(labels.items())))

    @property
    def up(self) -> float | None:
        return self("memwatch_up", store="mem0", backend="postgresql")

    @property
    def count(self) -> float | None:
        return self("memwatch_store_memories", store="mem0")

    def errors(self) -> dict[str, float]:
        return {r: self("memwatch_collection_errors_total", store="mem0", reason=r) or 0.0
                for r in REASONS}

    def namespaces(self) -> dict[str, float]:
        return {dict(labels)["namespace"]: v for (name, labels), v in self.data.items()
                if name == "memwatch_memories"}


def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {r: after[r] - before[r] for r in REASONS if after[r] != before[r]}


@pytest.fixture(scope="module")
def data(pg: PgCluster) -> Iterator[Mem0Data]:
    d = mem0data.generate(300, seed=21)
    with pg.session() as conn:
        mem0data.create_table(conn, TABLE, d)
    yield d
    pg.execute(f"DROP TABLE IF EXISTS {TABLE}")


@pytest.fixture
def url(pg: PgCluster, data: Mem0Data) -> Iterator[str]:
    spec = mem0_spec(pg, table=TABLE, timeout=f"{TIMEOUT}s", connect_timeout="5s")
    with exporter_for(spec) as exp, serving(exp) as base:
        yield base


def healthy(url: str, data: Mem0Data) -> HttpScrape:
    s = HttpScrape(url)
    assert s.up == 1, s.errors()
    assert s.count == data.total
    assert s.namespaces() == data.namespaces("user_id")
    return s


def recovered(url: str, data: Mem0Data, pause: float = 0.0) -> HttpScrape:
    """The first scrape after the database is back is up; one retry is tolerated."""
    s = HttpScrape(url)
    if s.up != 1:
        time.sleep(pause)
        s = HttpScrape(url)
    assert s.elapsed < BOUND
    return healthy_from(s, data)


def healthy_from(s: HttpScrape, data: Mem0Data) -> HttpScrape:
    assert s.up == 1, s.errors()
    assert s.count == data.total
    assert s.namespaces() == data.namespaces("user_id")
    return s


def test_server_stopped_and_started(pg: PgCluster, data: Mem0Data, url: str) -> None:
    before = healthy(url, data).errors()
    with pg.down():
        for n in (1, 2):  # the broken open connection, then a refused reconnect
            s = HttpScrape(url)
            assert s.elapsed < BOUND, f"scrape {n} took {s.elapsed:.2f}s, server down"
            assert s.up == 0
            assert s.count is None  # no stale values while down
            assert diff(s.errors(), before) == {"connect": n}
    after = recovered(url, data)
    assert after.errors()["connect"] == before["connect"] + 2


def test_table_locked(pg: PgCluster, data: Mem0Data, url: str) -> None:
    before = healthy(url, data).errors()
    with pg.session() as locker:
        locker.execute("BEGIN")
        locker.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        s = HttpScrape(url)
        assert s.elapsed < BOUND, f"scrape took {s.elapsed:.2f}s behind a lock"
        assert s.up == 0
        failed = diff(s.errors(), before)
        assert failed == {"locked": 1}, failed
        locker.execute("ROLLBACK")
    recovered(url, data)


def test_server_hung(pg: PgCluster, data: Mem0Data, url: str) -> None:
    """SIGSTOP on every server process: TCP still connects, nothing ever answers, so no
    server-side timeout can fire; only the exporter's own deadline can end the scrape."""
    before = healthy(url, data).errors()
    with pg.frozen():
        for n in (1, 2):  # the query that never returns, then the same collection, stuck
            s = HttpScrape(url)
            assert s.elapsed < BOUND, f"scrape {n} took {s.elapsed:.2f}s, server hung"
            assert s.up == 0
            assert diff(s.errors(), before) == {"timeout": n}
    # The collection stuck on the frozen server ends a few ms after the thaw; a scrape in
    # between reports the timeout again rather than queue behind it. Scrapes are seconds
    # apart in practice: one retry, half a second later.
    recovered(url, data, pause=0.5)
