"""SQLite's side files, and who may write them.

When are they there? In WAL mode `<db>-wal` and `<db>-shm` exist while any connection has
the database open; the last writer to close removes them. A read-only reader cannot: a
reader that found none creates both (it needs the -shm to read) and leaves them behind,
owned by its own user with the database's mode bits (root excepted: SQLite gives a file it
creates as root to the database's owner). A writer of another user then cannot write them,
and its next write fails with "attempt to write a readonly database". A reader that may not
write the directory cannot create them, so it reads only while a writer keeps them there.
In rollback-journal mode `<db>-journal` exists during a write transaction; one left by a
writer that crashed is "hot", and a read-only reader cannot roll it back (every read fails
with SQLITE_READONLY_ROLLBACK).
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass

WAL_SIDE = ("-wal", "-shm")


@dataclass(frozen=True)
class Verdict:
    problems: list[str]
    notes: list[str]
    safe_to_open: bool  # False: opening it now would leave side files the writer can't write


def user(uid: int) -> str:
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def may_write(uid: int, owner: int, group: int, mode: int) -> bool:
    """Whether `uid` may write a file of `owner`:`group` with `mode` (permission bits)."""
    if uid == 0:
        return True
    if uid == owner:
        return bool(mode & stat.S_IWUSR)
    try:
        pw = pwd.getpwuid(uid)
        groups = set(os.getgrouplist(pw.pw_name, pw.pw_gid))
    except KeyError:
        groups = set()
    if group in groups:
        return bool(mode & stat.S_IWGRP)
    return bool(mode & stat.S_IWOTH)


def created_by_me(path: str, db: os.stat_result) -> tuple[int, int, int]:
    """(owner, group, mode) of a side file this process would create next to `path`."""
    parent = os.stat(os.path.dirname(path) or ".")
    group = parent.st_gid if parent.st_mode & stat.S_ISGID else os.getegid()
    return os.geteuid(), group, db.st_mode & 0o777


def examine(path: str, wal: bool) -> Verdict:
    db = os.stat(path)
    me, writer = os.geteuid(), db.st_uid
    present = {s: os.stat(path + s) for s in (*WAL_SIDE, "-journal")
               if os.path.exists(path + s)}
    problems: list[str] = []
    blocking = [f"{path}{suffix} ({user(st.st_uid)}, mode {st.st_mode & 0o777:o})"
                for suffix in WAL_SIDE if (st := present.get(suffix)) is not None
                and not may_write(writer, st.st_uid, st.st_gid, st.st_mode)]
    if blocking:
        problems.append(
            f"side files the database's owner {user(writer)} cannot write: "
            f"{', '.join(blocking)}; its next write fails ('attempt to write a readonly "
            "database'). A reader of another user left them (a read-only reader cannot "
            f"remove them): while no process has the database open (fuser {path}), remove "
            f"{path}-wal and {path}-shm, and run the exporter as {user(writer)}")
    if "-wal" in present and not os.access(path + "-wal", os.R_OK):
        problems.append(f"{path}-wal is not readable by {user(me)} (this user): every read "
                        "fails with 'unable to open database file'; run the exporter as "
                        f"{user(writer)} or let its group read the database's files")
    safe = True
    directory = os.path.dirname(path) or "."
    if wal and not os.access(directory, os.W_OK):
        problems.append(
            f"{path} is in WAL mode and {user(me)} (this user) may not write {directory} "
            f"(its permissions, or a read-only mount): reads work only while a writer keeps "
            f"{path}-shm there; with none open, every collection fails ('attempt to write a "
            f"readonly database'); run the exporter as {user(writer)}, the directory "
            "writable")
    elif wal and me not in (0, writer):
        owner, group, mode = created_by_me(path, db)
        if not may_write(writer, owner, group, mode):
            now = "-shm" not in present
            safe = not now
            problems.append(
                f"{path} is in WAL mode: a read by {user(me)} (this user) while no writer "
                f"has it open creates {path}-shm and -wal (mode {mode:o}) that the writer "
                f"{user(writer)} cannot write, and its next write fails; run the exporter as "
                f"{user(writer)}, or give both one group (the database 0660 in a setgid "
                "directory of that group)"
                + (" (no writer has it open now: doctor did not open it)" if now else ""))
    notes = [f"{os.path.basename(path)}{s} present" for s in present]
    return Verdict(problems, notes, safe)
