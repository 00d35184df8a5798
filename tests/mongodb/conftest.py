"""Fixtures for the MongoDB tests.

Every MongoDB test runs once per server: the bundled MongoDB-wire emulator (CongoDB, in
memory) and SecantusDB (a MongoDB-wire server over WiredTiger, with users, roles and
`maxTimeMS`), each on a free 127.0.0.1 port, one at a time; test ids end in `[emulator]` and
`[secantus]`. When MEMWATCH_TEST_MONGODB_URI is set, every test runs against that real MongoDB
only (`[mongodb]`). The session fixture `mongo` (tests/conftest.py) is the server of the test:
a MongoEnv saying what that server can do, so a test that needs a capability skips, with the
reason, where it is missing. Each run uses databases named with a prefix of its own
(`mwt<pid><random>_...`) and drops them at the end, so a real server is left as it was.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from tests.mongodb.servers import (
    Emulator,
    EmulatorError,
    Secantus,
    SecantusError,
    real_uri,
)

Server = Emulator | Secantus


@dataclass(frozen=True)
class Kind:
    """A MongoDB server the tests run on, and what it can do."""

    name: str  # the test id: "emulator", "secantus" or "mongodb" (MEMWATCH_TEST_MONGODB_URI)
    auth: bool  # users, roles and SCRAM authentication: a test can create a `read` user
    timeouts: bool  # honours `maxTimeMS`: a command past it fails with code 50
    string_ids: bool  # stores `_id`s other than ObjectIds (mem0's uuid strings)
    reverse_scan: bool  # `hint({$natural: -1})` reads the newest documents first
    persistent: bool  # a stopped server started again still has its data


EMULATOR = Kind("emulator", auth=False, timeouts=False, string_ids=False,
                reverse_scan=False, persistent=False)
SECANTUS = Kind("secantus", auth=True, timeouts=True, string_ids=True,
                reverse_scan=True, persistent=True)
REAL = Kind("mongodb", auth=True, timeouts=True, string_ids=True,
            reverse_scan=True, persistent=True)


def kinds() -> list[Kind]:
    """The servers of this run (each test runs on every one)."""
    return [REAL] if real_uri() else [EMULATOR, SECANTUS]


def kind_named(name: str) -> Kind:
    return next(k for k in (EMULATOR, SECANTUS, REAL) if k.name == name)


def start_server(kind: Kind) -> Server:
    """A server of `kind` (emulator or secantus) of the caller's own, started; the caller
    stops it (`close()`). SecantusDB not installed skips the test; the emulator not
    installed (or either failing to start) fails it."""
    if kind is EMULATOR:
        emu = Emulator()
        try:
            emu.start()
        except EmulatorError as exc:
            emu.close()
            pytest.fail(f"cannot start the MongoDB-wire emulator: {exc}")
        return emu
    if missing := Secantus.check_installed():
        print(f"SKIP: {missing}")
        pytest.skip(missing)
    sec = Secantus()
    try:
        sec.start()
    except SecantusError as exc:
        sec.close()
        pytest.fail(f"cannot start SecantusDB: {exc}")
    return sec


class MongoEnv:
    """One MongoDB server of the session: the emulator or SecantusDB, started on first use
    (`uri`, `client`, `fresh_db`, `spec`) and stopped by `close()`, or the real server of
    MEMWATCH_TEST_MONGODB_URI. Starting on first use lets the SQLite and PostgreSQL cases of
    the consolidator's `make_repo`, which carry the session's server only to be ordered with
    its tests, run without starting one."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.name = kind.name
        self.auth = kind.auth
        self.timeouts = kind.timeouts
        self.string_ids = kind.string_ids
        self.reverse_scan = kind.reverse_scan
        self.persistent = kind.persistent
        self.prefix = f"mwt{os.getpid()}{secrets.token_hex(2)}_"
        self.server: Server | None = None
        self._uri: str | None = real_uri() if kind is REAL else None
        self._client: pymongo.MongoClient[dict[str, Any]] | None = None
        self._unavailable: tuple[bool, str] | None = None  # (skip, why) once it could not start

    def _start(self) -> str:
        if self._uri is None:
            if self._unavailable is not None:  # not tried again by every test
                skipped, why = self._unavailable
                if skipped:
                    pytest.skip(why)
                pytest.fail(why, pytrace=False)
            try:
                self.server = start_server(self.kind)
            except (pytest.skip.Exception, pytest.fail.Exception) as exc:
                self._unavailable = (isinstance(exc, pytest.skip.Exception), str(exc.msg))
                raise
            self._uri = self.server.uri
        return self._uri

    @property
    def uri(self) -> str:
        return self._start()

    @property
    def client(self) -> pymongo.MongoClient[dict[str, Any]]:
        if self._client is None:
            self._client = pymongo.MongoClient(self.uri, tz_aware=True,
                                               serverSelectionTimeoutMS=10_000)
        return self._client

    def db_name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fresh_db(self, name: str) -> Database[dict[str, Any]]:
        """An empty database of this run (dropped first if a test made it before)."""
        self.client.drop_database(self.db_name(name))
        return self.client[self.db_name(name)]

    def spec(self, name: str, preset: str, database: str | None = None,
             uri: str | None = None, **keys: Any) -> str:
        """Spec text for one store; `keys` become YAML keys (values written as given)."""
        lines = [f"  - name: {name}", f"    preset: {preset}",
                 f"    uri: '{uri or self.uri}'"]
        if database is not None:
            lines.append(f"    database: {self.db_name(database)}")
        lines += [f"    {k}: {v}" for k, v in keys.items()]
        return "\n".join(lines) + "\n"

    @property
    def startable(self) -> bool:
        """A test can start servers of this kind of its own (not the real server)."""
        return self.kind is not REAL

    def own_server(self) -> Server:
        """A server of the same kind for one test to stop, freeze and start at will (it
        closes it). Only for the emulator and SecantusDB."""
        assert self.kind is not REAL, "the real server of MEMWATCH_TEST_MONGODB_URI"
        return start_server(self.kind)

    def cleanup(self) -> None:
        """Drops this run's databases from the real server (a server of the session's own
        goes away with them; one that never started has none)."""
        if self._client is None or self.server is not None:
            return
        for name in self._client.list_database_names():
            if name.startswith(self.prefix):
                self._client.drop_database(name)

    def close(self) -> None:
        try:
            self.cleanup()
        finally:
            client, self._client = self._client, None
            if client is not None:
                client.close()
            server, self.server = self.server, None
            if server is not None:
                server.close()


def stores(*parts: str) -> str:
    return "stores:\n" + "".join(parts)
