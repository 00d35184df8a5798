"""The overview's PostgreSQL server row against the real thing: Debian's postgres_exporter
(0.11) scraping the tests' PostgreSQL 16 cluster, a real Prometheus scraping it; every
query of the row answers with data."""

from __future__ import annotations

import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from memwatch.demo.stack import (
    PROMETHEUS_BINARIES,
    Process,
    find_binary,
    free_port,
    http_json,
    wait_for,
)
from memwatch.generators import dashboards
from memwatch.generators.model import Model
from tests.generators.test_dashboards import boards, exprs, render, row_panels, spec
from tests.postgres.cluster import PgCluster

EXPORTER = "/usr/bin/prometheus-postgres-exporter"
JOB = "pg-server"
ROW = f"PostgreSQL server ({JOB})"

pytestmark = pytest.mark.skipif(
    not (Path(EXPORTER).exists() and shutil.which("prometheus")),
    reason="Debian packages prometheus-postgres-exporter and prometheus are not installed")


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, object]]:
        data = http_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        assert data["status"] == "success", data
        return list(data["data"]["result"])


@pytest.fixture(scope="module")
def prometheus(pg: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    work = tmp_path_factory.mktemp("pg-row")
    exporter_port, prom_port = free_port(), free_port()
    dsn = f"host={pg.sockdir} port={pg.port} user=postgres dbname=mem0 sslmode=disable"
    exporter = Process("postgres_exporter", [
        EXPORTER, f"--web.listen-address=127.0.0.1:{exporter_port}"],
        work / "postgres_exporter.log")
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [
        {"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}]}
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = Process("prometheus", [
        find_binary(PROMETHEUS_BINARIES, "prometheus"),
        f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
        work / "prometheus.log")
    try:
        with pytest.MonkeyPatch.context() as env:  # its DSN is read from there only
            env.setenv("DATA_SOURCE_NAME", dsn)
            exporter.start()
        prom.start()
        yield Prometheus(f"http://127.0.0.1:{prom_port}")
    finally:
        prom.stop()
        exporter.stop()


def test_every_postgres_row_query_answers_with_data(pg: PgCluster,
                                                    prometheus: Prometheus) -> None:
    s = spec(f"""
        stores: [{{name: mem0, preset: mem0-pgvector, dsn: 'env:X'}}]
        dashboards: {{postgres_exporter_job: {JOB}}}
    """)
    board = boards(render(s))["dashboards/memwatch-overview.json"]
    queries = [e for p in row_panels(board)[ROW] for e in exprs(p)]
    assert len(queries) == 9 and all(f'job="{JOB}"' in q for q in queries)
    wait_for("three scrapes of postgres_exporter", lambda: prometheus.query(
        f'count_over_time(pg_up{{job="{JOB}"}}[1m]) >= 3'), 90)
    for _ in range(20):  # some work for the rates (commits, block hits)
        pg.execute("SELECT count(*) FROM pg_class")
        time.sleep(0.1)
    variables = dashboards.sample_variables(Model.of(s))
    empty = [q for q in queries if not prometheus.query(dashboards.concrete(q, variables))]
    assert empty == [], f"PostgreSQL panels without data: {empty}"
    (up,) = prometheus.query(f'pg_up{{job="{JOB}"}}')
    assert up["value"][1] == "1"  # type: ignore[index]
