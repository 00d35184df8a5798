"""The exporter never writes: every command it sends is a read (watched with pymongo's
command monitoring), and the server's databases, collections and documents are unchanged
after many scrapes of every preset. On a server with users (SecantusDB, a real MongoDB) it
also works as a user with the built-in `read` role only, and a wrong password is `auth`.
`promtool check metrics` accepts the /metrics of every MongoDB preset plus a failing store."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import encode
from pymongo import monitoring

from memwatch.backends import mongo_client
from tests.helpers import Scrape, exporter_for, get, serving
from tests.mongodb.conftest import MongoEnv, stores
from tests.mongodb.data import mem0_docs, now_ms, seed_clawmongo, seed_orchestrator

READ_COMMANDS = {"find", "getMore", "killCursors", "aggregate", "count", "listCollections",
                 "collStats", "dbStats", "endSessions", "hello", "isMaster", "ismaster",
                 "ping", "saslStart", "saslContinue"}


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(scope="module")
def seeded(mongo: MongoEnv) -> Iterator[str]:
    seed_clawmongo(mongo.fresh_db("ro_claw"), now_ms())
    mongo.fresh_db("ro_mem0")["mem0"].insert_many(
        mem0_docs([("alice", 5), ("bob", 3)], mongo.string_ids)[0])
    seed_orchestrator(mongo.fresh_db("ro_orch"))
    mongo.fresh_db("ro_custom")["notes"].insert_many(
        [{"owner": "ann", "ts": now_ms(), "deleted": i % 2 == 0} for i in range(6)])
    yield stores(
        mongo.spec("claw", "clawmongo", "ro_claw"),
        mongo.spec("claw_est", "clawmongo", "ro_claw", count="estimate"),
        mongo.spec("mem0", "mem0-mongodb", "ro_mem0"),
        mongo.spec("orch", "orchestrator", "ro_orch"),
        mongo.spec("notes", "mongo", "ro_custom", collection="notes", namespace="owner",
                   timestamp="ts", filter="{deleted: false}"))


def snapshot(mongo: MongoEnv) -> dict[str, Any]:
    """Every database of this run: collection names and a digest of all documents."""
    out: dict[str, Any] = {}
    for name in sorted(mongo.client.list_database_names()):
        if not name.startswith(mongo.prefix):
            continue
        db = mongo.client[name]
        for coll in sorted(db.list_collection_names()):
            digest = hashlib.sha256()
            docs = sorted(encode(d) for d in db[coll].find({}))
            for raw in docs:
                digest.update(raw)
            out[f"{name}.{coll}"] = (len(docs), digest.hexdigest())
    return out


def test_exporter_sends_only_reads_and_changes_nothing(
        mongo: MongoEnv, seeded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    listener = Commands()
    monkeypatch.setattr(mongo_client, "MongoClient",
                        partial(pymongo.MongoClient, event_listeners=[listener]))
    before = snapshot(mongo)
    assert before, "nothing seeded"
    with exporter_for(seeded) as exp:
        for _ in range(3):
            got = Scrape(exp)
            for store in ("claw", "claw_est", "mem0", "orch", "notes"):
                assert got("memwatch_up", store=store, backend="mongodb") == 1, store
    assert snapshot(mongo) == before
    names = {name for name, _ in listener.seen}
    assert names and names <= READ_COMMANDS, names - READ_COMMANDS
    assert {"aggregate", "count", "listCollections"} <= names
    for name, command in listener.seen:
        if name == "aggregate":
            stages = {next(iter(stage)) for stage in command["pipeline"]}
            assert not stages & {"$out", "$merge"}, stages
        if name in ("find", "aggregate", "count"):
            assert "maxTimeMS" in command, (name, command)  # the store's timeout, server-side


@pytest.fixture
def read_only_user(mongo: MongoEnv) -> Iterator[tuple[str, str]]:
    if not mongo.auth:
        reason = (f"the {mongo.name} has no users or authentication (SecantusDB and a real "
                  "MongoDB via MEMWATCH_TEST_MONGODB_URI run this)")
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    admin = mongo.client["admin"]
    user, password = f"{mongo.prefix}reader", "read-only-S3cret"
    admin.command("createUser", user, pwd=password,
                  roles=[{"role": "read", "db": mongo.db_name("ro_claw")}])
    try:
        yield user, password
    finally:
        admin.command("dropUser", user)


def without_credentials(uri: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "authSource"]
    query.append(("authSource", "admin"))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/",
                                    urllib.parse.urlencode(query), ""))


def test_read_role_is_enough_and_a_wrong_password_is_auth(
        mongo: MongoEnv, seeded: str, read_only_user: tuple[str, str]) -> None:
    user, password = read_only_user
    uri = without_credentials(mongo.uri)
    spec = stores(
        mongo.spec("claw", "clawmongo", "ro_claw", uri=uri, username=user, password=password),
        mongo.spec("bad", "clawmongo", "ro_claw", uri=uri, username=user,
                   password="wrong-password"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
        assert got("memwatch_up", store="claw", backend="mongodb") == 1
        assert got("memwatch_store_memories", store="claw") == 80
        assert got("memwatch_up", store="bad", backend="mongodb") == 0
        assert got("memwatch_collection_errors_total", store="bad", reason="auth") == 1


PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def test_promtool_check_metrics(mongo: MongoEnv, seeded: str) -> None:
    if not Path(PROMTOOL).exists():
        pytest.skip("promtool not found (Debian package `prometheus`; scripts/bootstrap.sh)")
    spec = seeded + mongo.spec("down", "mem0-mongodb", uri="mongodb://127.0.0.1:9",
                               timeout="1s")
    with exporter_for(spec) as exp, serving(exp) as url:
        status, _, body = get(url + "/metrics")
    assert status == 200
    # the body holds what this test claims to check: every preset's series and a failure
    for series in ('memwatch_relevance_latency_seconds{percentile="95",store="claw"}',
                   'memwatch_chunks{status="active",store="claw"}',
                   'memwatch_backlog{stage="projection",store="claw"}',
                   'memwatch_collection_documents{collection="alerts",store="orch"}',
                   'memwatch_memories{namespace="alice",store="mem0"}',
                   'memwatch_up{backend="mongodb",store="down"} 0.0',
                   'memwatch_collection_errors_total{reason="connect",store="down"} 1.0'):
        assert series in body, series
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=body, text=True,
                            capture_output=True, timeout=30)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

