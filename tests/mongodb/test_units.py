"""The MongoDB presets' spec validation, error reasons, collection discovery, quantiles,
lazy imports and secrets: no server needed for most of these."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from pymongo.errors import (
    AutoReconnect,
    ConfigurationError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from memwatch.backends import mongo_client, mongo_queries, mongodb, timestamps
from memwatch.errors import SpecError
from memwatch.spec import ClawMongoStore, parse_spec
from tests.helpers import Scrape, exporter_for, get, serving

ROOT = Path(__file__).resolve().parents[2]


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(textwrap.dedent(text), "s.yaml")
    return info.value.problems


def test_preset_defaults() -> None:
    spec = parse_spec(textwrap.dedent("""\
        stores:
          - {name: oc, preset: clawmongo, uri: 'env:CLAWMONGO_URI'}
          - {name: m, preset: mem0-mongodb, uri_file: /run/secrets/mem0}
          - {name: o, preset: orchestrator, uri: 'mongodb://h/'}
        """))
    oc = spec.store("oc")
    assert isinstance(oc, ClawMongoStore)
    assert (oc.database, oc.prefix, oc.window, oc.run_timestamp, oc.count) == (
        "openclaw", "openclaw_", 3600.0, "ts", "exact")
    m = spec.store("m")
    assert (m.database, m.collection, m.namespace) == ("mem0_db", "mem0", "user_id")  # type: ignore[union-attr]
    o = spec.store("o")
    assert len(o.collections) == 9 and o.memory_collections == ("knowledge_base",)  # type: ignore[union-attr]
    assert o.freshness == {"alerts": "timestamp", "knowledge_base": "timestamp"}  # type: ignore[union-attr]


@pytest.mark.parametrize(("store", "message"), [
    ("{name: a, preset: clawmongo}", "give exactly one of uri or uri_file"),
    ("{name: a, preset: clawmongo, uri: x, uri_file: /y}", "give exactly one of uri or uri_file"),
    ("{name: a, preset: clawmongo, uri: x, password: p, password_file: /p}",
     "give at most one of password or password_file"),
    ("{name: a, preset: mongo, uri: x, database: d, collection: c, filter: {$where: 'x'}}",
     "$where runs JavaScript"),
    ("{name: a, preset: mongo, uri: x, database: d, collection: c, "
     "filter: {$expr: {$function: {}}}}", "$function runs JavaScript"),
    ("{name: a, preset: mongo, uri: x, database: d, collection: c, count: estimate, "
     "filter: {a: 1}}", "cannot apply filter"),
    ("{name: a, preset: mongo, uri: x, database: d, collection: system.users}",
     "system collections"),
    ("{name: a, preset: mongo, uri: x, database: 'd$x', collection: c}", "database"),
    ("{name: a, preset: mongo, uri: x, database: d, collection: c, namespace: '$f'}",
     "namespace"),
    ("{name: a, preset: orchestrator, uri: x, freshness: {nope: ts}}",
     "missing from collections: ['nope']"),
    ("{name: a, preset: clawmongo, uri: x, window: 0}", "window"),
    ("{name: a, preset: clawmongo, uri: x, colection: y}", "unknown key"),
])
def test_invalid_specs(store: str, message: str) -> None:
    found = problems(f"stores:\n  - {store}\n")
    assert any(message in p for p in found), found
    assert all(p.startswith("s.yaml:2: stores[0]") for p in found), found


def test_classify() -> None:
    cases = [
        (ServerSelectionTimeoutError("127.0.0.1:1: [Errno 111] Connection refused"), "connect"),
        (AutoReconnect("connection closed"), "connect"),
        (NetworkTimeout("timed out"), "timeout"),
        (ExecutionTimeout("operation exceeded time limit", 50), "timeout"),
        (OperationFailure("Authentication failed.", 18), "auth"),
        (OperationFailure("not authorized on x to execute command", 13), "permission"),
        (OperationFailure("bad query", 2), "query"),
        (ConfigurationError("bad uri"), "config"),
    ]
    for exc, reason in cases:
        assert mongo_client.classify(exc).reason == reason, exc


def test_find_clawmongo_collections() -> None:
    names = ["openclaw_main_events", "openclaw_events", "openclaw_research_bot_events",
             "openclaw_main_kb_chunks", "openclaw_kb_chunks", "openclaw_main_chunks",
             "openclaw_session_chunks", "openclaw_ingest_runs", "openclaw_x_ingest_runs",
             "openclaw_main_relevance_runs", "openclaw_main_relevance_artifacts",
             "openclaw_main_events_archive", "other_events", "openclaw_main_projection_runs"]
    found = mongodb.find_clawmongo_collections(names, "openclaw_")
    assert found == {
        "events": [("openclaw_events", None), ("openclaw_main_events", "main"),
                   ("openclaw_research_bot_events", "research_bot")],
        "chunks": [("openclaw_main_chunks", "main")],
        "ingest_runs": [("openclaw_ingest_runs", None), ("openclaw_x_ingest_runs", "x")],
        "relevance_runs": [("openclaw_main_relevance_runs", "main")],
    }


def test_apportion_sampled_shares() -> None:
    assert mongo_queries.apportion([("a", 5999.6), ("b", 3600.2), ("c", 2400.2)], 12000) == [
        ("a", 6000.0), ("b", 3600.0), ("c", 2400.0)]
    thirds = mongo_queries.apportion([("a", 10 / 3), ("b", 10 / 3), (None, 10 / 3)], 10)
    assert sorted(v for _, v in thirds) == [3.0, 3.0, 4.0]
    assert mongo_queries.apportion([], 0) == []


def test_nearest_rank_and_times() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [mongodb.nearest_rank(values, q) for q in (0.5, 0.95, 0.99, 1.0)] == [
        50, 95, 99, 100]
    assert mongodb.nearest_rank([7.0], 0.5) == 7.0
    assert timestamps.to_unix(datetime(2026, 1, 1)) == 1767225600.0  # naive BSON dates are UTC
    assert timestamps.to_unix("2026-01-01T00:00:00Z") == 1767225600.0
    assert timestamps.to_unix("2025-12-31T16:00:00.000000-08:00") == 1767225600.0
    assert timestamps.to_unix(1767225600000) == 1767225600.0  # milliseconds
    assert timestamps.to_unix(1767225600) == 1767225600.0
    assert timestamps.to_unix(True) is None and timestamps.to_unix("soon") is None


def test_a_spec_without_mongo_stores_never_imports_pymongo(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(f"stores:\n  - {{name: f, preset: files, files: [{{name: x, glob: "
                    f"'{tmp_path}/*'}}]}}\n")
    code = textwrap.dedent(f"""
        import sys
        from memwatch.exporter import build_exporter
        from memwatch.spec import load_spec
        exp = build_exporter(load_spec({str(spec)!r}))
        list(exp.registry.collect())
        exp.close()
        assert "pymongo" not in sys.modules, "pymongo imported"
        assert "memwatch.backends.mongodb" not in sys.modules
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_uri_from_env_and_file_password_never_shown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A URI with a password from the environment, a password from a file: a dead server
    is reported (connect) and neither secret reaches the log or /metrics."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MW_TEST_MONGO_URI", f"mongodb://watcher:Uri-S3cret-pw@127.0.0.1:{port}/")
    pw = tmp_path / "pw"
    pw.write_text("File-S3cret-pw\n")
    unset = "MW_TEST_MONGO_UNSET_VAR"
    monkeypatch.delenv(unset, raising=False)
    spec = textwrap.dedent(f"""\
        stores:
          - {{name: a, preset: clawmongo, uri: 'env:MW_TEST_MONGO_URI', timeout: 1s}}
          - name: b
            preset: mem0-mongodb
            uri: 'mongodb://127.0.0.1:{port}/'
            username: watcher
            password_file: '{pw}'
            timeout: 1s
          - {{name: c, preset: orchestrator, uri: 'env:{unset}'}}
        """)
    caplog.set_level(logging.DEBUG)
    with exporter_for(spec) as exp, serving(exp) as url:
        got = Scrape(exp)
        _, _, body = get(url + "/metrics")
    assert got("memwatch_collection_errors_total", store="a", reason="connect") == 1
    assert got("memwatch_collection_errors_total", store="b", reason="connect") == 1
    assert got("memwatch_collection_errors_total", store="c", reason="config") == 1
    text = caplog.text + body + repr([r.__dict__ for r in caplog.records])
    assert "collection failed" in caplog.text
    for secret in ("Uri-S3cret-pw", "File-S3cret-pw"):
        assert secret not in text
