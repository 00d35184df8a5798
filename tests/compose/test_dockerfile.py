"""compose/Dockerfile: a pinned slim Python base, the package with its backend extras, a
non-root user, the two ports, `memwatch` as the entrypoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.compose.conftest import COMPOSE_DIR

DOCKERFILE = COMPOSE_DIR / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    logical = ""
    for line in text.splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        logical += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            word, _, rest = logical.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
            logical = ""
    return out


def problems(text: str) -> list[str]:
    ins = instructions(text)
    found: list[str] = []
    froms = [a for i, a in ins if i == "FROM"]
    if len(froms) != 1 or not re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", froms[0]):
        found.append(f"FROM: want one pinned python:3.11.N-slim base, got {froms}")
    users = [a for i, a in ins if i == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        found.append(f"USER: the last USER must be non-root, got {users}")
    entry = [a for i, a in ins if i == "ENTRYPOINT"]
    try:
        exec_form = json.loads(entry[-1]) if entry else None
    except json.JSONDecodeError:
        exec_form = None  # shell form: signals would not reach memwatch
    if exec_form != ["memwatch"]:
        found.append(f"ENTRYPOINT: want [\"memwatch\"] (exec form), got {entry}")
    exposed = {p for i, a in ins if i == "EXPOSE" for p in a.split()}
    if exposed != {"9187", "9188"}:
        found.append(f"EXPOSE: want 9187 9188, got {sorted(exposed)}")
    runs = " ".join(a for i, a in ins if i == "RUN")
    extras = re.search(r"pip install [\"']?\.\[([a-z,]+)\]", runs)
    if not extras or not {"postgresql", "mongodb"} <= set(extras.group(1).split(",")):
        found.append("RUN: pip install .[postgresql,mongodb,...] missing")
    user_at = max((n for n, (i, _) in enumerate(ins) if i == "USER"), default=-1)
    if any(i == "RUN" for i, _ in ins[user_at + 1:]):
        found.append("RUN after USER: install as root, run as the user")
    return found


def test_dockerfile_structure() -> None:
    assert problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(("old", "new", "needle"), [
    ("FROM python:3.11.11-slim-bookworm", "FROM python:latest", "FROM"),
    ("FROM python:3.11.11-slim-bookworm", "FROM python:3.11-slim", "FROM"),
    ("USER 10001:10001", "USER root", "USER"),
    ("USER 10001:10001\n", "", "USER"),
    ('ENTRYPOINT ["memwatch"]', "ENTRYPOINT memwatch", "ENTRYPOINT"),
    ("EXPOSE 9187 9188", "EXPOSE 9187", "EXPOSE"),
    (".[postgresql,mongodb,consolidator]", ".[consolidator]", "RUN"),
])
def test_a_broken_dockerfile_is_caught(old: str, new: str, needle: str) -> None:
    text = DOCKERFILE.read_text()
    assert old in text
    found = problems(text.replace(old, new))
    assert any(p.startswith(needle) for p in found), found


def test_the_build_context_sends_only_the_package() -> None:
    text = Path(str(DOCKERFILE) + ".dockerignore").read_text()
    rules = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert rules[:4] == ["*", "!pyproject.toml", "!README.md", "!memwatch/"]
