"""A configured table that does not exist is logged once per episode: mem0-pgvector exports
it as memwatch_table_exists 0 and a count of 0 (mem0 creates the table lazily), so a wrong
`table:` (`mem0` against the REST server's `memories`) was otherwise silent."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import Scrape, exporter_for
from tests.postgres.cluster import PgCluster
from tests.postgres.conftest import mem0_spec
from tests.postgres.owndb import database, db, mem0_table

__all__ = ["database", "db"]  # fixtures

S = {"store": "mem0"}


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "memory table missing"]


def test_missing_table_logged_once_per_episode(pg: PgCluster, db: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    pg.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO memwatch",
               dbname=db)
    with exporter_for(mem0_spec(pg, dsn=pg.dsn(dbname=db), table="mem0")) as exp:
        for _ in range(3):
            got = Scrape(exp)
            assert (got("memwatch_up", backend="postgresql", **S),
                    got("memwatch_table_exists", **S)) == (1, 0)
        [record] = warnings(caplog)
        assert record.levelno == logging.WARNING
        assert (record.store, record.table) == ("mem0", "public.mem0")  # type: ignore[attr-defined]
        assert record.hint.endswith(  # type: ignore[attr-defined]
            "its name may be wrong: memwatch doctor --spec SPEC --store mem0")
        mem0_table(pg, db, table="mem0", n=2)  # it appears: the episode ends
        for _ in range(2):
            got = Scrape(exp)
            assert (got("memwatch_up", backend="postgresql", **S),
                    got("memwatch_table_exists", **S)) == (1, 1)
        assert len(warnings(caplog)) == 1
        pg.execute('DROP TABLE public."mem0"', dbname=db)  # and vanishes again: once more
        for _ in range(3):
            assert Scrape(exp)("memwatch_table_exists", **S) == 0
        assert len(warnings(caplog)) == 2
