"""The Compose Specification's JSON Schema, from PyPI's docker-compose 1.29.2 wheel.

The wheel is downloaded once (`pip download --no-deps`, never installed) into
tools/compose-schema/ (gitignored), its sha256 checked, and `compose/config/compose_spec.json`
read straight out of the zip.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "tools" / "compose-schema"
WHEEL = "docker_compose-1.29.2-py2.py3-none-any.whl"
SHA256 = "8d5589373b35c8d3b1c8c1182c6e4a4ff14bffa3dd0b605fcd08f73c94cef809"
MEMBER = "compose/config/compose_spec.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_path() -> Path:
    """The cached wheel, downloaded (without installing it) when missing or corrupt."""
    wheel = CACHE / WHEEL
    if wheel.is_file() and _sha256(wheel) == SHA256:
        return wheel
    CACHE.mkdir(parents=True, exist_ok=True)
    wheel.unlink(missing_ok=True)
    res = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--disable-pip-version-check", "-q", "docker-compose==1.29.2", "-d", str(CACHE)],
        capture_output=True, text=True, timeout=300)
    if res.returncode != 0 or not wheel.is_file():
        raise RuntimeError(f"pip download docker-compose==1.29.2 failed:\n{res.stderr}")
    if _sha256(wheel) != SHA256:
        raise RuntimeError(f"{wheel}: sha256 {_sha256(wheel)} is not the pinned {SHA256}")
    return wheel


def compose_schema() -> dict[str, Any]:
    with zipfile.ZipFile(wheel_path()) as zf:
        schema: dict[str, Any] = json.loads(zf.read(MEMBER))
    return schema
