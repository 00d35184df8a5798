"""Backend name -> what opens that storage from the spec's `consolidator.storage` section.
PostgreSQL and MongoDB are imported when chosen: their drivers are optional extras."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from memwatch.consolidator.storage.base import Repository
from memwatch.secrets import resolve
from memwatch.spec.consolidator import ConsolidatorStorage

# `base`: the folder a relative SQLite path is read from (the spec's)
Opener = Callable[[ConsolidatorStorage, Path], Repository]


def _dsn(storage: ConsolidatorStorage) -> str:
    dsn = resolve(storage.dsn, storage.dsn_file, "consolidator.storage.dsn")
    assert dsn is not None  # the spec requires one of dsn and dsn_file
    return dsn


def open_sqlite(storage: ConsolidatorStorage, base: Path) -> Repository:
    from memwatch.consolidator.storage.sqlite import SqliteRepository

    path = Path(storage.path).expanduser()
    return SqliteRepository(path if path.is_absolute() else base / path)


def open_postgresql(storage: ConsolidatorStorage, base: Path) -> Repository:
    from memwatch.consolidator.storage.postgresql import PostgresRepository

    return PostgresRepository(_dsn(storage))


def open_mongodb(storage: ConsolidatorStorage, base: Path) -> Repository:
    from memwatch.consolidator.storage.mongodb import MongoRepository

    return MongoRepository(_dsn(storage), storage.database)


OPENERS: dict[str, Opener] = {
    "sqlite": open_sqlite, "postgresql": open_postgresql, "mongodb": open_mongodb}


def open_repository(storage: ConsolidatorStorage, base: Path) -> Repository:
    return OPENERS[storage.backend](storage, base)
