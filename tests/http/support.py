"""Helpers for the HTTP tests: the test store's facts and a /metrics body parser."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

from memwatch.demo import openclaw_store as oc
from memwatch.exporter import Exporter, build_exporter
from memwatch.server import serve
from memwatch.webconfig import WebConfig
from tests.helpers import get, spec_from


@contextlib.contextmanager
def served(spec: str, web: WebConfig | None = None) -> Iterator[str]:
    """The exporter for spec text, built with the web config (basic auth and headers are
    part of the app, TLS of the listener) and served on 127.0.0.1; yields the base URL."""
    web = web or WebConfig()
    exp: Exporter = build_exporter(spec_from(spec), web=web)
    httpd = serve(exp.app, "127.0.0.1:0", web)
    # a short poll interval: shutdown() waits for it (the default is 0.5 s a test)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    scheme = "https" if web.tls_server_config else "http"
    try:
        yield f"{scheme}://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        exp.close()


def scrape_with_integrity(url: str, timeout: float = 30) -> tuple[str, int]:
    """A /metrics body that serves the integrity pass (embeddings by model, dimensions),
    and how many scrapes it took: the first scrape only starts that pass on its own thread
    and never waits for it, so scrape again until its success timestamp is there."""
    deadline, scrapes = time.monotonic() + timeout, 0
    while True:
        status, _, body = get(url + "/metrics")
        assert status == 200
        scrapes += 1
        if "memwatch_integrity_last_success_timestamp_seconds{" in body or \
                time.monotonic() > deadline:
            return body, scrapes
        time.sleep(0.05)


@dataclass
class Store:
    """An openclaw-mem store on disk and the facts the tests assert about it."""

    db: Path
    spool: Path
    conn: sqlite3.Connection
    active: int  # observations that are not soft-archived
    tools: dict[str, int]
    spool_lines: int
    processing_lines: int

    def add(self, n: int, tool: str = "web_search") -> None:
        for i in range(n):
            oc.insert_observation(self.conn, oc.js_time(datetime.now(UTC)), tool, f"new {i}")
        self.active += n
        self.tools[tool] = self.tools.get(tool, 0) + n

    def spec(self, name: str = "oc", extra: str = "") -> str:
        """Spec text for this store (`extra`: more keys of the store, 4-space indented)."""
        text = (f"stores:\n  - name: {name}\n    preset: openclaw-mem\n"
                f"    path: '{self.db}'\n    spool: '{self.spool}'\n"
                "    expected_dimension: 1536\n")
        return text + "".join(f"    {line}\n" for line in extra.splitlines() if line)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(body: str, openmetrics: bool = False) -> Samples:
    families = openmetrics_families(body) if openmetrics else text_families(body)  # type: ignore[no-untyped-call]
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in families for s in fam.samples}


def sample(data: Samples, name: str, **labels: str) -> float | None:
    return data.get((name, frozenset(labels.items())))


def help_text(body: str, name: str) -> str:
    prefix = f"# HELP {name} "
    for line in body.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):]
    raise AssertionError(f"no HELP line for {name}")
