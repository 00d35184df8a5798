"""A dead or hung MongoDB never hangs a scrape: /metrics answers within the store's timeout
+ 1 s with memwatch_up 0 and a counted reason, and the first scrape after the server is
back reports correct counts again (the MongoClient reconnects by itself). A query past the
store's timeout is stopped by the server too (`maxTimeMS`), not left running.

On the emulator and on SecantusDB a server of the test's own is stopped and started again
on the same port: the emulator comes back empty (in memory: the test seeds it again),
SecantusDB with its data and users (the client authenticates again). Against a real server
(MEMWATCH_TEST_MONGODB_URI) the outage is a TCP proxy in front of it that closes its port and
every connection, then opens the port again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pymongo
import pytest
from pymongo.errors import ExecutionTimeout

from tests.helpers import Scrape, exporter_for, get, serving
from tests.mongodb.conftest import MongoEnv, stores
from tests.mongodb.data import now_ms
from tests.mongodb.servers import TcpProxy, proxied_uri, stop_process, upstream_of

TIMEOUT = 2.0


@dataclass
class Outage:
    uri: str  # what the exporter connects to
    seed_uri: str  # where the test writes its data
    stop: Callable[[], None]
    start: Callable[[], None]
    freeze: Callable[[], None] | None = None
    thaw: Callable[[], None] | None = None


@pytest.fixture
def outage(mongo: MongoEnv) -> Iterator[Outage]:
    if mongo.startable:
        own = mongo.own_server()  # a server of this test's own, stopped and started at will
        try:
            yield Outage(own.uri, own.uri, own.stop, own.start)
        finally:
            own.close()
        return
    try:
        proxy = TcpProxy(upstream_of(mongo.uri))
        proxy.start()
        uri = proxied_uri(mongo.uri, proxy.port)
    except ValueError as exc:
        pytest.skip(str(exc))
    try:
        yield Outage(uri, mongo.uri, proxy.stop, proxy.start, proxy.freeze, proxy.thaw)
    finally:
        proxy.stop()


def seed(uri: str, database: str, n: int) -> None:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=10_000)
    try:
        client.drop_database(database)
        client[database]["openclaw_a_events"].insert_many(
            [{"agentId": "a", "scope": "user", "timestamp": now_ms()} for _ in range(n)])
    finally:
        client.close()


def timed_scrape(url: str) -> tuple[float, str]:
    start = time.monotonic()
    status, _, body = get(url + "/metrics", timeout=30)
    assert status == 200
    return time.monotonic() - start, body


def line(body: str, prefix: str) -> float | None:
    for ln in body.splitlines():
        if ln.startswith(prefix + " "):
            return float(ln.rsplit(" ", 1)[1])
    return None


def test_server_stopped_then_back(mongo: MongoEnv, outage: Outage) -> None:
    database = mongo.db_name("outage")
    seed(outage.seed_uri, database, 7)
    spec = stores(mongo.spec("oc", "clawmongo", "outage", uri=outage.uri,
                             timeout=f"{TIMEOUT}s"))
    up = 'memwatch_up{backend="mongodb",store="oc"}'
    count = 'memwatch_store_memories{store="oc"}'
    connect = 'memwatch_collection_errors_total{reason="connect",store="oc"}'
    with exporter_for(spec) as exp, serving(exp) as url:
        took, body = timed_scrape(url)
        assert (line(body, up), line(body, count)) == (1, 7)
        outage.stop()
        for n in (1, 2):  # the first scrape finds dead pooled connections, the next none
            took, body = timed_scrape(url)
            assert took < TIMEOUT + 1, f"scrape {n} took {took:.2f}s"
            assert line(body, up) == 0
            assert line(body, count) is None  # nothing stale
            assert line(body, connect) == n
        outage.start()
        if not mongo.persistent:
            seed(outage.seed_uri, database, 9)  # in memory: back empty, so seed again
        took, body = timed_scrape(url)
        assert line(body, up) == 1, body
        assert line(body, count) == (7 if mongo.persistent else 9)
        assert took < TIMEOUT + 1


def test_hung_server_times_out(mongo: MongoEnv) -> None:
    """A server that accepts and then never answers (SIGSTOP on a server of the test's own;
    a frozen proxy in front of a real server): up 0 within the timeout, then back."""
    if mongo.startable:
        import signal

        own = mongo.own_server()
        assert own.proc is not None
        proc = own.proc
        uri, seed_uri = own.uri, own.uri

        def freeze() -> None:
            stop_process(proc.pid)

        def thaw() -> None:
            proc.send_signal(signal.SIGCONT)

        close: Callable[[], None] = own.close
    else:
        try:
            proxy = TcpProxy(upstream_of(mongo.uri))
            proxy.start()
            uri, seed_uri = proxied_uri(mongo.uri, proxy.port), mongo.uri
        except ValueError as exc:
            pytest.skip(str(exc))
        freeze, thaw, close = proxy.freeze, proxy.thaw, proxy.stop
    try:
        database = mongo.db_name("hung")
        seed(seed_uri, database, 5)
        spec = stores(mongo.spec("oc", "clawmongo", "hung", uri=uri, timeout=f"{TIMEOUT}s"))
        with exporter_for(spec) as exp:
            assert Scrape(exp)("memwatch_store_memories", store="oc") == 5
            freeze()
            try:
                start = time.monotonic()
                got = Scrape(exp)
                took = time.monotonic() - start
                assert took < TIMEOUT + 1
                assert got("memwatch_up", store="oc", backend="mongodb") == 0
                reasons = {r: got("memwatch_collection_errors_total", store="oc", reason=r)
                           for r in ("timeout", "connect")}
                assert sum(v or 0 for v in reasons.values()) == 1, reasons
            finally:
                thaw()
            got = Scrape(exp)
            assert got("memwatch_up", store="oc", backend="mongodb") == 1
            assert got("memwatch_store_memories", store="oc") == 5
    finally:
        close()


def test_nothing_listening(mongo: MongoEnv) -> None:
    """A port nobody listens on: `connect` within the timeout, on every scrape."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = stores(mongo.spec("dead", "mem0-mongodb", uri=f"mongodb://127.0.0.1:{port}",
                             timeout="1s"))
    with exporter_for(spec) as exp:
        for n in (1, 2):
            start = time.monotonic()
            got = Scrape(exp)
            assert time.monotonic() - start < 2.0
            assert got("memwatch_up", store="dead", backend="mongodb") == 0
            assert got("memwatch_collection_errors_total", store="dead", reason="connect") == n


def test_cancel_drops_the_client_and_the_next_collection_reconnects(mongo: MongoEnv) -> None:
    from memwatch.backends.registry import make_backend
    from tests.helpers import spec_from

    mongo.fresh_db("cancel")["openclaw_a_events"].insert_many(
        [{"agentId": "a", "timestamp": now_ms()} for _ in range(3)])
    backend = make_backend(spec_from(stores(mongo.spec("oc", "clawmongo", "cancel"))).stores[0])
    try:
        assert backend.collect().memories == 3
        backend.cancel()  # what the runner calls on a collection past its timeout
        backend.cancel()  # twice is harmless
        assert backend.collect().memories == 3
    finally:
        backend.close()


def test_the_server_stops_a_query_past_the_timeout(mongo: MongoEnv) -> None:
    """Each command carries `maxTimeMS` for the time left: a query past the store's timeout
    is `timeout` within it, and the server stops the query there instead of running it to
    the end for nobody (the client has given up). Needs a server that honours `maxTimeMS`."""
    if not mongo.timeouts:
        reason = (f"the {mongo.name} ignores maxTimeMS (SecantusDB and a real MongoDB via "
                  "MEMWATCH_TEST_MONGODB_URI run this)")
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    db = mongo.fresh_db("slow")
    # a filter that reads every element of every document's 200-long array and matches none
    db["notes"].insert_many([{"owner": f"u{i % 7}", "ts": i, "tags": list(range(200))}
                             for i in range(5000)])
    match = {"tags": {"$elemMatch": {"$gt": 1000}}}

    def running() -> list[dict[str, Any]]:
        """This database's queries the server is running (SecantusDB's currentOp names
        only the command: {aggregate: 1})."""
        ops = mongo.client["admin"].command("currentOp")["inprog"]
        return [op["command"] for op in ops if op.get("command", {}).get("$db", db.name)
                == db.name and {"aggregate", "count", "find"} & set(op["command"])]

    # the premise: the query alone outlasts the scrape and the wait after it by far (3 s:
    # about 4 s on SecantusDB, a fraction of a second on MongoDB), and running() sees it
    failed: list[BaseException] = []

    def alone() -> None:
        try:
            list(db["notes"].aggregate([{"$match": match}, {"$count": "n"}], maxTimeMS=3000))
        except BaseException as exc:  # handed to the test's thread
            failed.append(exc)

    thread = threading.Thread(target=alone)
    thread.start()
    deadline = time.monotonic() + 1.0
    while not running() and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = running()
    thread.join()
    if not failed:
        reason = (f"the query takes under 3 s on this server ({mongo.name}): too little to "
                  "show the server stopping it at the store's timeout")
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    assert [type(e) for e in failed] == [ExecutionTimeout]
    assert seen, "currentOp does not show the query"
    assert not running()

    spec = stores(mongo.spec("slow", "mongo", "slow", collection="notes", namespace="owner",
                             timestamp="ts", filter="{tags: {$elemMatch: {$gt: 1000}}}",
                             timeout="1s"))
    with exporter_for(spec) as exp:
        start = time.monotonic()
        got = Scrape(exp)
        assert time.monotonic() - start < 2.0
        assert got("memwatch_up", store="slow", backend="mongodb") == 0
        assert got("memwatch_collection_errors_total", store="slow", reason="timeout") == 1
        while (left := running()) and time.monotonic() - start < 2.5:
            time.sleep(0.05)
        assert left == [], f"still running {time.monotonic() - start:.1f} s after the scrape"
