"""Timeouts and caching as a scraper sees them: a locked SQLite store answers in time with
memwatch_up 0 and recovers; min_interval serves a cached result and says so."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest

from tests.helpers import get
from tests.http.support import Store, help_text, parse, sample, served

TIMEOUT = 1.0


@pytest.fixture
def locked(store: Store) -> Iterator[sqlite3.Connection]:
    """A writer in rollback-journal mode holding an exclusive lock mid-transaction."""
    store.conn.close()  # leaving WAL needs the only connection
    writer = sqlite3.connect(store.db, isolation_level=None, check_same_thread=False)
    assert writer.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    store.conn = writer
    writer.execute("BEGIN EXCLUSIVE")
    store.add(5)
    try:
        yield writer
    finally:
        if writer.in_transaction:
            writer.execute("ROLLBACK")


def scrape(url: str) -> tuple[float, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    start = time.monotonic()
    status, _, body = get(url + "/metrics", timeout=TIMEOUT + 5)
    assert status == 200
    return time.monotonic() - start, parse(body)


def test_locked_store_answers_in_time_and_recovers(store: Store,
                                                   locked: sqlite3.Connection) -> None:
    spec = store.spec(extra=f"timeout: {TIMEOUT}s")
    with served(spec) as url:
        for attempt in (1, 2):  # a second scrape while still locked: same answer, no pile-up
            took, data = scrape(url)
            assert took < TIMEOUT + 1, f"scrape {attempt} took {took:.2f}s"
            assert sample(data, "memwatch_up", store="oc", backend="sqlite") == 0
            failures = sum(sample(data, "memwatch_collection_errors_total", store="oc",
                                  reason=r) or 0 for r in ("locked", "timeout"))
            assert failures == attempt
            assert sample(data, "memwatch_store_memories", store="oc") is None
        # the writer commits: the very next scrape is back, with the committed rows
        locked.execute("COMMIT")
        took, data = scrape(url)
        assert took < TIMEOUT
        assert sample(data, "memwatch_up", store="oc", backend="sqlite") == 1
        assert sample(data, "memwatch_store_memories", store="oc") == store.active == 12


def test_min_interval_serves_the_cached_result(store: Store) -> None:
    spec = (store.spec("cached", extra="min_interval: 60s")
            + store.spec("live").removeprefix("stores:\n"))
    with served(spec) as url:
        status, _, body = get(url + "/metrics")
        assert status == 200
        first = parse(body)
        assert sample(first, "memwatch_store_memories", store="cached") == 7
        assert sample(first, "memwatch_store_memories", store="live") == 7
        store.add(3)
        _, _, body = get(url + "/metrics")
        second = parse(body)
        assert sample(second, "memwatch_store_memories", store="cached") == 7
        assert sample(second, "memwatch_memories", store="cached", namespace="web_search") == 4
        assert sample(second, "memwatch_store_memories", store="live") == 10
        assert sample(second, "memwatch_memories", store="live", namespace="web_search") == 7
        # the cached store's last success did not move; the live one's did
        assert (sample(second, "memwatch_last_success_timestamp_seconds", store="cached")
                == sample(first, "memwatch_last_success_timestamp_seconds", store="cached"))
        help_ = help_text(body, "memwatch_store_memories")
        assert "cached" in help_ and "min_interval" in help_
        assert "live" not in help_.split("Stores ", 1)[1]
        assert "min_interval" not in help_text(body, "memwatch_up")


def test_min_interval_expires(store: Store) -> None:
    with served(store.spec(extra="min_interval: 300ms")) as url:
        _, data = scrape(url)
        assert sample(data, "memwatch_store_memories", store="oc") == 7
        store.add(2)
        _, data = scrape(url)
        assert sample(data, "memwatch_store_memories", store="oc") == 7
        time.sleep(0.4)
        _, data = scrape(url)
        assert sample(data, "memwatch_store_memories", store="oc") == 9


def test_no_cache_note_without_min_interval(store: Store) -> None:
    with served(store.spec()) as url:
        _, _, body = get(url + "/metrics")
    assert "min_interval" not in body
    assert help_text(body, "memwatch_store_memories") == (
        "Memory records in the store (soft-archived records excluded).")
