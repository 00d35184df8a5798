"""Fixtures for the MongoDB tests.

One server per session: the bundled MongoDB-wire emulator (CongoDB, in memory) on a free
127.0.0.1 port, or, when MEMWATCH_TEST_MONGODB_URI is set, that real MongoDB, and then every
test here runs against it. Each run uses databases named with a prefix of its own
(`mwt<pid><random>_...`) and drops them at the end, so a real server is left as it was.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from tests.mongodb.servers import Emulator, EmulatorError


@dataclass
class MongoEnv:
    uri: str
    emulated: bool
    emulator: Emulator | None = None
    prefix: str = field(default_factory=lambda: f"mwt{os.getpid()}{secrets.token_hex(2)}_")

    def __post_init__(self) -> None:
        self.client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            self.uri, tz_aware=True, serverSelectionTimeoutMS=10_000)

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

    def cleanup(self) -> None:
        try:
            for name in self.client.list_database_names():
                if name.startswith(self.prefix):
                    self.client.drop_database(name)
        finally:
            self.client.close()


def start_emulator() -> Emulator:
    emu = Emulator()
    try:
        emu.start()
    except EmulatorError as exc:
        emu.close()
        pytest.fail(f"cannot start the MongoDB-wire emulator: {exc}")
    return emu


def stores(*parts: str) -> str:
    return "stores:\n" + "".join(parts)
