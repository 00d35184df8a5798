"""Doctor checks for what lives in plain files: the file checks of a store (`files:`, the
`files` preset), openclaw-mem's capture spool and OpenClaw's workspace."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from memwatch.backends import markdown
from memwatch.backends.registry import file_checks
from memwatch.doctor import Report
from memwatch.doctor.sidefiles import user
from memwatch.spec import FilesCheck, OpenclawMemoryCoreStore, OpenclawMemStore, StoreBase

WILDCARDS = ("*", "?", "[")


def check_files(store: StoreBase, report: Report) -> None:
    spool = os.path.expanduser(store.spool) if isinstance(store, OpenclawMemStore) and \
        store.spool else None
    for check in file_checks(store).checks:
        pattern = os.path.expanduser(check.glob)
        if spool is not None and pattern == f"{spool}.*.processing":
            continue  # the spool's sibling: reported with the spool
        if spool is not None and pattern == spool:
            check_spool(spool, report)
        else:
            check_glob(check, pattern, report)
    if isinstance(store, OpenclawMemoryCoreStore):
        check_workspace(Path(store.workspace).expanduser(), report)


def fixed_directory(pattern: str) -> str:
    """The directory a glob's matches are under: its longest leading part without
    wildcards (`/var/backups/mem0-*.sql` -> `/var/backups`)."""
    parts = pattern.split(os.sep)
    fixed = []
    for part in parts[:-1]:
        if any(w in part for w in WILDCARDS):
            break
        fixed.append(part)
    return os.sep.join(fixed) or (os.sep if pattern.startswith(os.sep) else ".")


def unreadable(paths: list[str]) -> list[str]:
    return [p for p in paths if os.path.isfile(p) and not os.access(p, os.R_OK)]


def check_glob(check: FilesCheck, pattern: str, report: Report) -> None:
    directory = fixed_directory(pattern)
    if not os.path.isdir(directory):
        report.fail(f"files:{check.name}", f"check {check.name}: directory {directory} "
                    f"does not exist, so {check.glob} can match nothing (check `glob`)")
        return
    matches = sorted(glob.glob(pattern))
    if bad := unreadable(matches):
        report.fail(f"files:{check.name}", f"check {check.name}: {', '.join(bad[:5])} not "
                    f"readable by {user(os.geteuid())} (this user)")
        return
    report.ok(f"files:{check.name}", f"check {check.name}: {len(matches)} files match "
                                     f"{check.glob}")


def check_spool(spool: str, report: Report) -> None:
    """openclaw-mem's capture spool: `harvest` renames it away, so a missing spool is
    normal between a harvest and the next capture, unless the plugin writes elsewhere."""
    directory = os.path.dirname(spool)
    if not os.path.isdir(directory):
        report.fail("spool", f"spool {spool}: its directory {directory} does not exist "
                             "(set spool: to where openclaw-mem captures, or spool: null)")
        return
    processing = sorted(glob.glob(f"{spool}.*.processing"))
    if bad := unreadable([spool, *processing]):
        report.fail("spool", f"spool {', '.join(bad)} not readable by "
                             f"{user(os.geteuid())} (this user): the backlog is not counted")
        return
    left = (f"; {len(processing)} leftover .processing files (a harvest stopped; the next "
            "harvest recovers them)" if processing else "")
    if os.path.isfile(spool):
        report.ok("spool", f"spool {spool} is there{left}")
        return
    others = sorted(n for n in os.listdir(directory) if n.endswith(".jsonl"))
    if others:
        report.fail("spool", f"spool {spool} does not exist; JSONL files in {directory}: "
                             f"{', '.join(others[:10])} (set spool: "
                             f"{os.path.join(directory, others[0])})")
        return
    report.ok("spool", f"spool {spool}: no file now, normal until the next capture and "
                       f"right after a harvest{left}")


def check_workspace(workspace: Path, report: Report) -> None:
    """OpenClaw's Markdown truth: the workspace must be there and readable."""
    fix = "set workspace: to the agent's workspace (agents.defaults.workspace)"
    if not workspace.exists():
        report.fail("workspace", f"workspace {workspace} does not exist: {fix}")
        return
    if not workspace.is_dir():
        report.fail("workspace", f"workspace {workspace} is not a directory: {fix}")
        return
    closed = [d for d in (workspace, workspace / "memory")
              if d.is_dir() and not os.access(d, os.R_OK | os.X_OK)]
    if closed:
        report.fail("workspace", f"{closed[0]} is not readable by {user(os.geteuid())} (this "
                                 "user): the exporter cannot set the Markdown against the "
                                 "index; let it read the workspace")
        return
    found = markdown.scan(workspace, True)
    curated = "MEMORY.md" if markdown.CURATED in found else "no MEMORY.md"
    report.ok("workspace", f"workspace {workspace}: {curated}, {len(found)} memory files")
