"""`memwatch doctor` on the MongoDB-wire servers: the OK path, a missing collection (with the
database's collections), ClawMongo's events under another prefix, an empty database, an
unreachable server, a wrong password (on a server with users); and mem0-mongodb's missing
collection logged once per episode by the exporter."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.doctor_support import doctor
from tests.helpers import Scrape, exporter_for
from tests.mongodb.conftest import MongoEnv, stores
from tests.postgres.cluster import free_port


def mem0_docs(n: int) -> list[dict[str, object]]:
    return [{"embedding": [0.1, 0.2, 0.3],
             "payload": {"user_id": f"u{i % 2}", "data": f"m{i}",
                         "created_at": "2026-11-20T07:00:00-08:00"}} for i in range(n)]


def test_ok_and_missing_collection(mongo: MongoEnv, tmp_path: Path) -> None:
    mongo.fresh_db("doctor_mem0")["mem0"].insert_many(mem0_docs(3))
    out = doctor(tmp_path, stores(mongo.spec("m", "mem0-mongodb", "doctor_mem0")))
    assert out.code == 0, out.text
    assert out.statuses() == dict.fromkeys(["connect", "collections", "privileges", "collect"],
                                           "OK")
    assert out.message("collections") == f"database {mongo.db_name('doctor_mem0')}: mem0"
    assert out.message("collect") == "the exporter's collection works: 3 memories"
    out = doctor(tmp_path, stores(mongo.spec("m", "mem0-mongodb", "doctor_mem0",
                                             collection="memories")))
    assert out.code == 1
    assert out.message("collections", "FAIL") == (
        f"collection memories does not exist in database {mongo.db_name('doctor_mem0')}; its "
        "collections: mem0 (set collection:; mem0 creates its collection on its first add())")
    assert "collect" not in out.statuses()


def test_empty_database(mongo: MongoEnv, tmp_path: Path) -> None:
    mongo.fresh_db("doctor_empty")
    out = doctor(tmp_path, stores(mongo.spec("m", "mongo", "doctor_empty", collection="notes")))
    assert out.code == 1
    assert out.message("collections", "FAIL").startswith(
        f"database {mongo.db_name('doctor_empty')} has no collections: it does not exist or "
        "is empty")


def test_clawmongo_events_under_another_prefix(mongo: MongoEnv, tmp_path: Path) -> None:
    db = mongo.fresh_db("doctor_claw")
    db["claw_main_events"].insert_one({"eventId": "e1", "agentId": "main", "scope": "user"})
    db["claw_main_chunks"].insert_one({"status": "active"})
    out = doctor(tmp_path, stores(mongo.spec("c", "clawmongo", "doctor_claw")))
    assert out.code == 1
    assert out.message("collections", "FAIL") == (
        f"database {mongo.db_name('doctor_claw')} has no events collection under prefix "
        "openclaw_; collections ending in events: claw_main_events (set prefix: claw_)")
    out = doctor(tmp_path, stores(mongo.spec("c", "clawmongo", "doctor_claw", prefix="claw_")))
    assert out.code == 0, out.text
    assert out.message("collect") == "the exporter's collection works: 1 memories"


def test_unreachable(tmp_path: Path) -> None:
    port = free_port()
    text = stores(f"  - name: m\n    preset: mem0-mongodb\n    uri: "
                  f"'mongodb://127.0.0.1:{port}/?directConnection=true'\n    timeout: 2s\n"
                  "    connect_timeout: 1s\n")
    out = doctor(tmp_path, text)
    assert out.code == 1 and [r["check"] for r in out.rows] == ["connect"]
    message = out.message("connect", "FAIL")
    assert message.startswith("ping failed (connect): no server reachable: ")
    assert f"127.0.0.1:{port}" in message
    assert message.endswith("is the server running and reachable at the URI's host and port "
                            "(and its TLS and replica-set options right)?")


def test_wrong_password(mongo: MongoEnv, tmp_path: Path) -> None:
    if not mongo.auth:
        pytest.skip(f"the {mongo.name} has no users (SecantusDB and a real MongoDB run this)")
    uri = mongo.uri.replace("@", "X@", 1)  # the admin's password, one character off
    wrong = uri.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    out = doctor(tmp_path, stores(mongo.spec("m", "mem0-mongodb", "doctor_auth", uri=uri)))
    assert out.code == 1
    assert out.message("connect", "FAIL").startswith("ping failed (auth): ")
    assert wrong not in out.text and wrong[:-1] not in out.text


def test_missing_collection_logged_once_per_episode(
        mongo: MongoEnv, caplog: pytest.LogCaptureFixture) -> None:
    db = mongo.fresh_db("doctor_log")
    caplog.set_level(logging.INFO)

    def missing() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage() == "memory collection missing"]

    with exporter_for(stores(mongo.spec("m", "mem0-mongodb", "doctor_log"))) as exp:
        for _ in range(3):
            assert Scrape(exp)("memwatch_table_exists", store="m") == 0
        [record] = missing()
        assert record.collection == f"{mongo.db_name('doctor_log')}.mem0"  # type: ignore[attr-defined]
        assert record.hint.endswith("memwatch doctor --spec SPEC --store m")  # type: ignore[attr-defined]
        db["mem0"].insert_many(mem0_docs(2))
        assert Scrape(exp)("memwatch_table_exists", store="m") == 1
        db["mem0"].drop()
        for _ in range(2):
            assert Scrape(exp)("memwatch_table_exists", store="m") == 0
        assert len(missing()) == 2
