"""IngestQueue: deliveries that arrive while a batch is written go to the storage together,
each caller gets its own result or error, and a failed write fails only its batch."""

from __future__ import annotations

import asyncio
import threading

import pytest

from memwatch.consolidator.ingest_queue import IngestQueue
from memwatch.consolidator.records import AlertRecord, IngestResult


def rec(fp: str) -> AlertRecord:
    return AlertRecord(fingerprint=fp, starts_at="2026-11-01T10:00:00.000000Z",
                       alertname="A", store="s", severity="critical", labels={},
                       annotations={}, generator_url="",
                       received_at="2026-11-01T10:00:00.000000Z")


class Storage:
    """Holds its first write until released, so the deliveries behind it pile up."""

    def __init__(self, fail_batch: int | None = None) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.fail_batch = fail_batch

    def write(self, deliveries: list[list[AlertRecord]]) -> list[IngestResult | Exception]:
        if not self.batches:
            self.release.wait(10)
        self.batches.append([d[0].fingerprint for d in deliveries])
        if len(self.batches) - 1 == self.fail_batch:
            raise OSError("disk full")
        return [ValueError(d[0].fingerprint) if d[0].fingerprint == "bad"
                else IngestResult(stored=len(d)) for d in deliveries]


async def started(queue: IngestQueue, fps: list[str]) -> list[asyncio.Task[IngestResult]]:
    tasks = [asyncio.ensure_future(queue.ingest([rec(fp)])) for fp in fps]
    await asyncio.sleep(0.05)  # each task has queued its delivery
    return tasks


def test_deliveries_waiting_for_a_write_go_in_one_batch() -> None:
    async def main() -> list[IngestResult | BaseException]:
        storage = Storage()
        queue = IngestQueue(storage.write)
        first = await started(queue, ["f0"])
        rest = await started(queue, ["f1", "bad", "f2"])
        storage.release.set()
        out = await asyncio.gather(*first, *rest, return_exceptions=True)
        assert storage.batches == [["f0"], ["f1", "bad", "f2"]]
        # afterwards a lone delivery is written at once, in a batch of its own
        assert (await queue.ingest([rec("f3")])).stored == 1
        assert storage.batches[-1] == ["f3"]
        return out

    out = asyncio.run(main())
    assert [type(r).__name__ for r in out] == ["IngestResult", "IngestResult", "ValueError",
                                               "IngestResult"]


def test_a_failed_write_fails_its_batch_only() -> None:
    async def main() -> list[IngestResult | BaseException]:
        storage = Storage(fail_batch=1)
        queue = IngestQueue(storage.write)
        first = await started(queue, ["f0"])
        failing = await started(queue, ["f1", "f2"])
        storage.release.set()
        out = await asyncio.gather(*first, *failing, return_exceptions=True)
        assert (await queue.ingest([rec("f3")])).stored == 1
        return out

    out = asyncio.run(main())
    assert [type(r).__name__ for r in out] == ["IngestResult", "OSError", "OSError"]


def test_batches_are_bounded() -> None:
    async def main() -> None:
        storage = Storage()
        queue = IngestQueue(storage.write, max_batch=2)
        first = await started(queue, ["f0"])
        rest = await started(queue, ["f1", "f2", "f3"])
        storage.release.set()
        await asyncio.gather(*first, *rest)
        assert storage.batches == [["f0"], ["f1", "f2"], ["f3"]]

    asyncio.run(main())


def test_a_write_answering_for_fewer_deliveries_fails_them() -> None:
    async def main() -> None:
        queue = IngestQueue(lambda deliveries: [])
        with pytest.raises(RuntimeError, match="0 of 1"):
            await queue.ingest([rec("f0")])

    asyncio.run(main())
