"""The console scripts' entry points: a Python package a command needs but cannot import is
one line naming what to install (exit 2), never a traceback.

`pip install memwatch` installs every package below (pyproject.toml's `dependencies`); they
go missing when memwatch is installed with `--no-deps`, into an environment that later lost
one, or as an older release's wheel with only some extras. Standard library only: this
module runs before any of them is imported.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from typing import NoReturn

EXIT_MISSING = 2  # as for a bad spec or bad usage: the command cannot run as installed

# import name -> (the distribution pip installs it from, the memwatch extra that names it)
PACKAGES: dict[str, tuple[str, str | None]] = {
    "grafanalib": ("grafanalib", "generators"),
    "fastapi": ("fastapi", "consolidator"),
    "starlette": ("fastapi", "consolidator"),
    "uvicorn": ("uvicorn", "consolidator"),
    "httptools": ("httptools", "consolidator"),
    "uvloop": ("uvloop", "consolidator"),
    "psycopg": ("psycopg", "postgresql"),
    "pymongo": ("pymongo", "mongodb"),
    "bson": ("pymongo", "mongodb"),
    "prometheus_client": ("prometheus-client", None),
    "pydantic": ("pydantic", None),
    "pydantic_core": ("pydantic", None),
    "yaml": ("pyyaml", None),
    "click": ("click", None),
    "jinja2": ("jinja2", None),
    "bcrypt": ("bcrypt", None),
}

# What a command needs outside its own process and main thread, checked before it starts:
# the demo runs the consolidator as a child process (`python -m memwatch.cli consolidate`),
# whose traceback would only reach its log file.
NEEDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("memwatch", "demo"): ("fastapi", "uvicorn"),
}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(dist: str) -> str:
    """The requirement memwatch's metadata declares for `dist` (e.g. `uvicorn>=0.29`, with
    its extras: `psycopg[binary]>=3.1`), or the bare name when memwatch is not installed."""
    from importlib import metadata  # only on this error path: it costs the exporter RSS

    try:
        declared = metadata.requires("memwatch") or []
    except metadata.PackageNotFoundError:
        declared = []
    for req in declared:
        spec, _, marker = req.partition(";")
        name = re.split(r"[\s\[<>=!~(]", spec.strip(), maxsplit=1)[0]
        if _canonical(name) == _canonical(dist) and "extra" not in marker:
            return spec.strip()
    return dist


def missing_message(command: str, module: str) -> str:
    """The one line for `module` (a key of PACKAGES) missing under `command`."""
    dist, extra = PACKAGES[module]
    also = f"; memwatch's extra [{extra}] names it too" if extra else ""
    return (f"error: {command} needs the Python package {dist}, which is not installed: "
            f"pip install '{requirement(dist)}' (a dependency of memwatch{also})")


def _fail(line: str) -> NoReturn:
    print(line, file=sys.stderr)
    sys.exit(EXIT_MISSING)


def _subcommand(args: Sequence[str]) -> str:
    return next((a for a in args if not a.startswith("-")), "")


def absent(module: str) -> bool:
    """Whether the top-level `module` cannot be found (or is blocked: None in sys.modules)."""
    try:
        return find_spec(module) is None
    except (ImportError, ValueError):
        return True


def import_error_line(command: str, exc: ImportError) -> str | None:
    """The line for an import failure memwatch can explain, None for any other (a bug)."""
    name = exc.name or ""
    top = name.partition(".")[0]
    if isinstance(exc, ModuleNotFoundError) and top in PACKAGES and absent(top):
        return missing_message(command, top)
    if top in PACKAGES:  # installed, but not the version memwatch needs
        dist = PACKAGES[top][0]
        return (f"error: {command}: cannot import {name}: the installed {dist} does not "
                f"match memwatch's requirement: pip install '{requirement(dist)}'")
    if str(exc).startswith("no pq wrapper available"):  # psycopg without libpq
        return (f"error: {command}: psycopg cannot load libpq: pip install "
                f"'{requirement('psycopg')}', or install the system's libpq")
    return None


def run(prog: str, target: str) -> None:
    """Import `target` ("module:function") and call it, as console script `prog` (the
    function reads its arguments from sys.argv)."""
    sub = _subcommand(sys.argv[1:])
    command = f"{prog} {sub}".strip()
    for module in NEEDS.get((prog, sub), ()):
        if absent(module):
            _fail(missing_message(command, module))
    module_name, _, attr = target.partition(":")
    try:
        main: Callable[[], None] = getattr(importlib.import_module(module_name), attr)
        main()
    except ImportError as exc:
        line = import_error_line(command, exc)
        if line is None:
            raise
        _fail(line)


def memwatch() -> None:
    """The `memwatch` command (memwatch.cli)."""
    run("memwatch", "memwatch.cli:main")


def gen_monitoring() -> None:
    """The `gen-monitoring` command (memwatch.generators.cli)."""
    run("gen-monitoring", "memwatch.generators.cli:main")
