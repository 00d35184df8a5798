"""The DSN's password never shows: not on /metrics, not in the logs (memwatch's own
formatter, in both formats, and every raw log record), whether the password comes from
`env:VAR`, a `dsn_file` or a `password_file`, whether it works, is refused, or the server
is not there at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from tests.helpers import Scrape, exporter_for, get, serving
from tests.postgres import mem0data
from tests.postgres.cluster import APP_PASSWORD, APP_USER, DBNAME, PgCluster, free_port
from tests.postgres.conftest import LogCapture

WRONG = "Wr0ng-pw-abc-987"
TABLE = "secret_memories"
UP = {"store": "mem0", "backend": "postgresql"}


@pytest.fixture(scope="module")
def table(pg: PgCluster) -> Iterator[int]:
    data = mem0data.generate(120, seed=31)
    with pg.session() as conn:
        mem0data.create_table(conn, TABLE, data)
    yield data.total
    pg.execute(f"DROP TABLE IF EXISTS {TABLE}")


def store(source: str) -> str:
    return ("stores:\n  - name: mem0\n    preset: mem0-pgvector\n"
            f"    table: {TABLE}\n    timeout: 3s\n{source}")


def scrape_all(spec: str) -> tuple[Scrape, str]:
    """Two scrapes of one exporter: the registry's samples, then the /metrics text."""
    with exporter_for(spec) as exp:
        s = Scrape(exp)
        body = generate_latest(exp.registry).decode()
    return s, body


def sources(pg: PgCluster, tmp: Path, password: str, port: int | None = None
            ) -> dict[str, tuple[str, dict[str, str]]]:
    """Each way a spec can carry the password: (spec source lines, environment)."""
    url = pg.dsn(password=password, port=port)
    kv = (f"host=127.0.0.1 port={port or pg.port} dbname={DBNAME} user={APP_USER} "
          f"password={password}")
    bare = pg.dsn(password=None, port=port)
    (tmp / "dsn").write_text(url + "\n")
    (tmp / "password").write_text(password + "\n")
    return {
        "env-url": ("    dsn: env:MEM0_DSN\n", {"MEM0_DSN": url}),
        "env-keyvalue": ("    dsn: env:MEM0_DSN\n", {"MEM0_DSN": kv}),
        "dsn_file": (f"    dsn_file: {tmp / 'dsn'}\n", {}),
        "password_file": (f"    dsn: '{bare}'\n    password_file: {tmp / 'password'}\n", {}),
        "password-env": (f"    dsn: '{bare}'\n    password: env:MEM0_PW\n",
                         {"MEM0_PW": password}),
    }


WAYS = ["env-url", "env-keyvalue", "dsn_file", "password_file", "password-env"]


def use(pg: PgCluster, tmp: Path, monkeypatch: pytest.MonkeyPatch, way: str, password: str,
        port: int | None = None) -> str:
    source, env = sources(pg, tmp, password, port)[way]
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return store(source)


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("way", WAYS)
def test_password_works_and_stays_hidden(pg: PgCluster, table: int, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         captured_logs: LogCapture, way: str) -> None:
    spec = use(pg, tmp_path, monkeypatch, way, APP_PASSWORD)
    s, body = scrape_all(spec)
    assert s("memwatch_up", **UP) == 1
    assert s("memwatch_store_memories", store="mem0") == table
    assert_hidden(body, APP_PASSWORD)
    assert_hidden(captured_logs.text(), APP_PASSWORD)


@pytest.mark.parametrize("way", WAYS)
def test_wrong_password(pg: PgCluster, table: int, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch, captured_logs: LogCapture,
                        way: str) -> None:
    spec = use(pg, tmp_path, monkeypatch, way, WRONG)
    s, body = scrape_all(spec)
    assert s("memwatch_up", **UP) == 0
    assert s("memwatch_collection_errors_total", store="mem0", reason="auth") == 1
    assert 'memwatch_collection_errors_total{reason="auth",store="mem0"} 2.0' in body
    assert s("memwatch_store_memories", store="mem0") is None
    logged = captured_logs.text()
    # the failure is logged (so the check below looks at real text) without the password
    assert "collection failed" in logged and "auth" in logged
    assert "password authentication failed" in logged
    assert_hidden(body + logged, WRONG, APP_PASSWORD)


@pytest.mark.parametrize("way", WAYS)
def test_server_down(pg: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     captured_logs: LogCapture, way: str) -> None:
    spec = use(pg, tmp_path, monkeypatch, way, APP_PASSWORD, port=free_port())
    s, body = scrape_all(spec)
    assert s("memwatch_up", **UP) == 0
    assert s("memwatch_collection_errors_total", store="mem0", reason="connect") == 1
    assert 'memwatch_collection_errors_total{reason="connect",store="mem0"} 2.0' in body
    logged = captured_logs.text()
    assert "collection failed" in logged and "connect" in logged
    assert_hidden(body + logged, APP_PASSWORD)


def test_server_stopped_mid_run(pg: PgCluster, table: int, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                captured_logs: LogCapture) -> None:
    """A connection the server drops (shutdown), then a refused reconnect: the errors
    psycopg raises there carry the server's and libpq's text, never the password."""
    spec = use(pg, tmp_path, monkeypatch, "env-url", APP_PASSWORD)
    with exporter_for(spec) as exp:
        assert Scrape(exp)("memwatch_up", **UP) == 1
        with pg.down():
            for _ in range(2):
                assert Scrape(exp)("memwatch_up", **UP) == 0
        assert Scrape(exp)("memwatch_up", **UP) == 1
    logged = captured_logs.text()
    assert "connect" in logged
    assert_hidden(logged, APP_PASSWORD)


def test_unset_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch,
                                          captured_logs: LogCapture) -> None:
    monkeypatch.delenv("MEM0_DSN_UNSET", raising=False)
    s, _ = scrape_all(store("    dsn: env:MEM0_DSN_UNSET\n"))
    assert s("memwatch_up", **UP) == 0
    assert s("memwatch_collection_errors_total", store="mem0", reason="config") == 1
    assert "MEM0_DSN_UNSET" in captured_logs.text()


def test_http_metrics_hide_the_password(pg: PgCluster, table: int, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        captured_logs: LogCapture) -> None:
    spec = use(pg, tmp_path, monkeypatch, "dsn_file", APP_PASSWORD)
    with exporter_for(spec) as exp, serving(exp) as url:
        pages = [get(f"{url}{path}") for path in ("/metrics", "/", "/health", "/nope")]
        om = get(f"{url}/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert pages[0][0] == 200 and 'memwatch_up{backend="postgresql",store="mem0"} 1.0' in \
        pages[0][2]
    assert om[1]["Content-Type"].startswith("application/openmetrics-text")
    for _, headers, body in [*pages, om]:
        assert_hidden(body + repr(headers), APP_PASSWORD)
    assert_hidden(captured_logs.text(), APP_PASSWORD)
