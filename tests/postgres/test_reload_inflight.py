"""A reload never cuts a scrape short (issue 14): a store the new spec drops is still
collected to the end by the scrape that was under way, against a real PostgreSQL held
still (SIGSTOP) across the reload."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from memwatch.exporter import build_exporter
from memwatch.reload import Reloader
from memwatch.spec import load_exporter_spec
from tests.helpers import Scrape
from tests.postgres.cluster import PgCluster
from tests.postgres.conftest import mem0_spec
from tests.postgres.mem0data import Mem0Data


def test_a_scrape_in_flight_finishes_on_the_store_a_reload_dropped(
        pg: PgCluster, mem0: Mem0Data, tmp_path: Path) -> None:
    files = (f"  - name: backups\n    preset: files\n"
             f"    files: [{{name: d, glob: '{tmp_path}/*.dump'}}]\n")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(mem0_spec(pg, timeout="20s", integrity_interval="0s") + files)
    exp = build_exporter(load_exporter_spec(spec_path))
    reloader = Reloader(spec_path, (), exp.collector, "127.0.0.1:0")
    try:
        assert Scrape(exp)("memwatch_up", store="mem0", backend="postgresql") == 1
        got: list[Scrape] = []
        with pg.frozen():
            scraping = threading.Thread(target=lambda: got.append(Scrape(exp)))
            scraping.start()
            time.sleep(1)  # the scrape waits on the stopped server
            spec_path.write_text("stores:\n" + files)
            assert reloader.reload() == []
            assert [r.name for r in exp.collector.runners] == ["backups"]
            time.sleep(0.5)
        scraping.join(timeout=30)
        assert got, "the scrape in flight never finished"
        assert got[0]("memwatch_up", store="mem0", backend="postgresql") == 1
        assert got[0]("memwatch_store_memories", store="mem0") == len(mem0.payloads)
        after = Scrape(exp)
        assert after("memwatch_up", store="mem0", backend="postgresql") is None
        assert after("memwatch_up", store="backups", backend="files") == 1
    finally:
        exp.close()
