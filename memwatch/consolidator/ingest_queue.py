"""Webhook deliveries to the storage in batches, gathered on the event loop.

A delivery that arrives while a batch is being written waits on the event loop (a future,
no thread); when that write returns, everything that waits goes to the storage together,
in one worker-thread call of `Repository.ingest_batch` (SQLite and PostgreSQL: one
transaction, one commit, each delivery in a savepoint of its own). So 100 concurrent
deliveries cost one thread hand-off and one commit per batch, not a worker thread each
blocked on the storage's writer lock: those hand-offs and the threads' contention for the
GIL were most of a delivery's CPU under load (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from memwatch.consolidator.records import AlertRecord, IngestResult

Write = Callable[[list[list[AlertRecord]]], list[IngestResult | Exception]]


class IngestQueue:
    """`ingest` returns after the commit that holds its delivery, or raises its error (a
    failed transaction fails every delivery in it). Used from one event loop only."""

    def __init__(self, write: Write, max_batch: int = 1000) -> None:
        self._write = write
        self._max_batch = max_batch
        self._waiting: list[tuple[list[AlertRecord], asyncio.Future[IngestResult]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def ingest(self, alerts: list[AlertRecord]) -> IngestResult:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[IngestResult] = loop.create_future()
        self._waiting.append((alerts, done))
        if self._writer is None:
            self._writer = loop.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:self._max_batch]
                del self._waiting[:self._max_batch]
                try:
                    results: list[IngestResult | Exception] = [
                        *await run_in_threadpool(self._write, [a for a, _ in batch])]
                    if len(results) != len(batch):
                        raise RuntimeError("ingest_batch answered for "
                                           f"{len(results)} of {len(batch)} deliveries")
                except asyncio.CancelledError:  # the loop is closing: nobody will answer
                    for _, done in batch + self._waiting:
                        done.cancel()
                    self._waiting.clear()
                    raise
                except Exception as exc:  # the transaction failed: every delivery did
                    results = [exc] * len(batch)
                for (_, done), r in zip(batch, results, strict=True):
                    if done.done():  # its request was cancelled meanwhile
                        continue
                    if isinstance(r, Exception):
                        done.set_exception(r)
                    else:
                        done.set_result(r)
        finally:
            self._writer = None
