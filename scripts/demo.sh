#!/usr/bin/env bash
# The main job: set-up, then the live demo (pass --once to run the story and exit).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
exec "$ROOT/.venv/bin/memwatch" demo "$@"
