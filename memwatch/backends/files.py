"""File checks: newest file's time, file count and bytes for a glob; optional backlog.

Serves openclaw-mem's JSONL capture spool (lines not yet harvested), leftover
`*.processing` files (a stuck harvest) and backup folders (a stale backup).
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from memwatch import metrics
from memwatch.backends.base import Backend, Observation
from memwatch.backends.timestamps import parse_time
from memwatch.errors import CollectionError
from memwatch.spec import FilesCheck


@dataclass
class _Counted:
    inode: int
    size: int
    lines: int


class FilesChecker:
    """Evaluates file checks; remembers line counts so an appended spool is read once."""

    def __init__(self, checks: Sequence[FilesCheck]) -> None:
        self.checks = tuple(checks)
        self._counted: dict[str, _Counted] = {}

    def _count_lines(self, path: str, st: os.stat_result) -> int:
        prev = self._counted.get(path)
        start, lines = 0, 0
        if prev and prev.inode == st.st_ino and prev.size <= st.st_size:
            start, lines = prev.size, prev.lines  # appended since: count the tail only
        with open(path, "rb") as fh:
            fh.seek(start)
            while chunk := fh.read(1 << 20):
                lines += chunk.count(b"\n")
        self._counted[path] = _Counted(st.st_ino, st.st_size, lines)
        return lines

    @staticmethod
    def _first_record_time(path: str) -> float | None:
        with open(path, "rb") as fh:
            line = fh.readline(1 << 16)
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if isinstance(record, dict):
            return parse_time(record.get("ts") or record.get("timestamp"))
        return None

    def observe(self, obs: Observation) -> None:
        seen: set[str] = set()
        for check in self.checks:
            paths = sorted(glob.glob(os.path.expanduser(check.glob)))
            stats: list[tuple[str, os.stat_result]] = []
            for p in paths:
                try:
                    st = os.stat(p)
                except FileNotFoundError:
                    continue  # removed between glob and stat (a harvest finishing)
                except PermissionError as exc:
                    raise CollectionError("permission", f"{p}: {exc.strerror}") from None
                if os.path.isfile(p):
                    stats.append((p, st))
            obs.add(metrics.FILES.name, len(stats), check=check.name)
            obs.add(metrics.FILES_SIZE.name, sum(st.st_size for _, st in stats), check=check.name)
            if stats:
                obs.add(metrics.FILES_NEWEST.name, max(st.st_mtime for _, st in stats),
                        check=check.name)
            if check.backlog_stage is None:
                continue
            stage = check.backlog_stage
            if check.backlog_unit == "files":
                count = float(len(stats))
            else:
                count = 0.0
                for p, st in stats:
                    try:
                        count += self._count_lines(p, st)
                    except FileNotFoundError:
                        continue
                    seen.add(p)
            obs.backlog[stage] = obs.backlog.get(stage, 0.0) + count
            if stats and count:
                oldest_path, oldest_st = min(stats, key=lambda x: x[1].st_mtime)
                ts = None
                if check.backlog_unit == "lines":
                    try:
                        ts = self._first_record_time(oldest_path)
                    except OSError:
                        ts = None
                ts = ts if ts is not None else oldest_st.st_mtime
                prev = obs.backlog_oldest.get(stage)
                obs.backlog_oldest[stage] = ts if prev is None else min(prev, ts)
        # forget files that are gone so the cache does not grow without bound
        for gone in set(self._counted) - seen:
            del self._counted[gone]


class FilesBackend(Backend):
    """The `files` preset: no database, only the store's file checks (run by the runner)."""

    kind = "files"

    def __init__(self, store: object) -> None:
        pass  # nothing to connect to

    def collect(self) -> Observation:
        return Observation()
