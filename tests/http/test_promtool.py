"""`promtool check metrics` on our /metrics: a store with data and a failing store."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.http.support import Store, parse, sample, scrape_with_integrity, served

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool() -> str:
    if not Path(PROMTOOL).exists():
        reason = "promtool not found (Debian package `prometheus`; scripts/bootstrap.sh)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return PROMTOOL


def check(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), "check", "metrics"], input=body, text=True,
                          capture_output=True, timeout=30)


def test_promtool_accepts_metrics_with_data_and_failures(store: Store, tmp_path: Path) -> None:
    spec = store.spec() + (
        "  - name: gone\n    preset: openclaw-mem\n"
        f"    path: '{tmp_path / 'missing.sqlite'}'\n    spool: null\n"
        "  - name: cached\n    preset: files\n    min_interval: 30s\n"
        f"    files: [{{name: dumps, glob: '{tmp_path}/*.jsonl', backlog_stage: queue}}]\n")
    with served(spec) as url:
        body, scrapes = scrape_with_integrity(url)
    # the body is what the test claims it is: data, backlog, embeddings and a failure
    data = parse(body)
    assert sample(data, "memwatch_up", store="oc", backend="sqlite") == 1
    assert sample(data, "memwatch_memories", store="oc", namespace="web_search") == 4
    assert sample(data, "memwatch_backlog", store="oc", stage="spool") == 3
    assert sample(data, "memwatch_embeddings", store="oc", model="text-embedding-3-small") == 7
    assert sample(data, "memwatch_vector_dimension", store="oc") == 1536
    assert sample(data, "memwatch_up", store="gone", backend="sqlite") == 0
    assert sample(data, "memwatch_collection_errors_total", store="gone",
                  reason="missing") == scrapes
    assert sample(data, "memwatch_store_memories", store="gone") is None  # no stale values
    assert sample(data, "memwatch_backlog", store="cached", stage="queue") == 3

    result = check(body)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_promtool_would_complain() -> None:
    """The check above can fail: promtool flags a counter without _total."""
    bad = "# HELP x_errors Errors.\n# TYPE x_errors counter\nx_errors 1\n"
    result = check(bad)
    assert "x_errors" in result.stdout + result.stderr
