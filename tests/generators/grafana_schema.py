"""Grafana's own dashboard schema as a JSON Schema, built offline from npm @grafana/schema.

@grafana/schema publishes the dashboard kind as TypeScript only; ts-json-schema-generator
turns its `Dashboard` type into a JSON Schema. Both are pinned in
tools/grafana-schema/package-lock.json (scripts/bootstrap.sh runs `npm ci` there). The
result is cached beside the lockfile, keyed by the lockfile's hash, and not committed: it
is derived from pinned packages, and regenerating it takes about two seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "grafana-schema"
PACKAGE = TOOL / "node_modules" / "@grafana" / "schema"
TYPES = PACKAGE / "dist" / "types" / "raw" / "dashboard" / "x" / "types.gen.d.ts"
GENERATOR = TOOL / "node_modules" / ".bin" / "ts-json-schema-generator"
CACHE = TOOL / "dashboard.schema.json"


class SchemaUnavailable(RuntimeError):
    pass


def _lock_hash() -> str:
    return hashlib.sha256((TOOL / "package-lock.json").read_bytes()).hexdigest()


def dashboard_schema() -> dict[str, Any]:
    """The JSON Schema of Grafana's `Dashboard`, generated once per lockfile."""
    key = f"package-lock.json sha256 {_lock_hash()}"
    if CACHE.is_file():
        cached: dict[str, Any] = json.loads(CACHE.read_text(encoding="utf-8"))
        if cached.get("$comment") == key:
            return cached
    if not (TYPES.is_file() and GENERATOR.is_file()):
        raise SchemaUnavailable(f"{TOOL}/node_modules is missing: run scripts/bootstrap.sh "
                                "(npm ci --ignore-scripts in tools/grafana-schema)")
    # --no-type-check: the .d.ts is Grafana's published output, not ours to type-check
    proc = subprocess.run(
        [str(GENERATOR), "--path", str(TYPES), "--type", "Dashboard", "--no-type-check"],
        capture_output=True, text=True, timeout=120, cwd=TOOL)
    if proc.returncode != 0:
        raise SchemaUnavailable(f"ts-json-schema-generator failed: {proc.stderr[-2000:]}")
    schema: dict[str, Any] = json.loads(proc.stdout)
    schema["$comment"] = key
    # write-then-rename: parallel test workers never read half a file
    fd, tmp = tempfile.mkstemp(dir=TOOL, prefix=".dashboard.schema.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(schema, f, indent=1, sort_keys=True)
    os.replace(tmp, CACHE)
    return schema


def package_schema_version() -> int:
    """The schemaVersion @grafana/schema's defaultDashboard carries."""
    src = (PACKAGE / "dist" / "cjs" / "raw" / "dashboard" / "x" / "types.gen.cjs").read_text(
        encoding="utf-8")
    match = re.search(r"schemaVersion:\s*(\d+)", src)
    if match is None:
        raise SchemaUnavailable("no schemaVersion in @grafana/schema's defaultDashboard")
    return int(match.group(1))
