#!/usr/bin/env bash
# The whole test suite: set-up, lint (ruff), types (mypy), then pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
echo "== ruff"
.venv/bin/ruff check memwatch tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest "$@"
