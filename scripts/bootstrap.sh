#!/usr/bin/env bash
# Installs what memwatch's demo and tests need, idempotently and quietly when present:
# Debian packages (Prometheus, Alertmanager, promtool, amtool) and a project venv in .venv.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run on its own.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"

say() { printf 'bootstrap: %s\n' "$*" >&2; }

# --- Debian packages ---------------------------------------------------------------
DEBS=(prometheus prometheus-alertmanager)
if [ "${MEMWATCH_BENCH:-0}" = 1 ]; then
  DEBS+=(prometheus-sql-exporter prometheus-postgres-exporter)
fi
missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  # --no-install-recommends: promtool and the binaries are all we need; policy-rc.d (where
  # present) keeps the packages' services from starting: memwatch starts its own.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python venv ---------------------------------------------------------------------
stamp="$VENV/.memwatch-installed"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing memwatch and its test dependencies into $VENV"
  log="$VENV/pip-install.log"
  if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip &&
         "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[test]"; \
       } >"$log" 2>&1; then
    cat "$log" >&2; say "pip install failed (log: $log)"; exit 1
  fi
  "$VENV/bin/python" -c "import importlib.util as u, memwatch, psycopg; assert u.find_spec('pgserver')" \
    || { say "the venv install is incomplete (log: $log)"; exit 1; }
  echo "$want" > "$stamp"
fi

# --- MongoDB-wire emulator (tests and demo) ------------------------------------------
# CongoDB from npm @push.rocks/smartmongo: an in-memory emulator, not MongoDB. Installed
# from the committed lockfile with --ignore-scripts (no install script runs, nothing is
# downloaded beyond the npm packages), again only when the lockfile changes.
EMU="$ROOT/tools/mongo-emulator"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  say "installing Debian packages: nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
emu_stamp="$EMU/node_modules/.memwatch-installed"
emu_want="$(cat "$EMU/package.json" "$EMU/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$emu_stamp" 2>/dev/null)" != "$emu_want" ]; then
  say "installing the MongoDB-wire emulator into $EMU/node_modules"
  emu_log="$(mktemp)"
  if ! (cd "$EMU" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
       >"$emu_log" 2>&1; then
    cat "$emu_log" >&2; rm -f "$emu_log"; say "npm ci failed in $EMU"; exit 1
  fi
  rm -f "$emu_log"
  echo "$emu_want" > "$emu_stamp"
fi

# --- Grafana's dashboard schema (dashboard tests) -----------------------------------------
# npm @grafana/schema (TypeScript types) and ts-json-schema-generator, from the committed
# lockfile with --ignore-scripts; the tests turn the types into a JSON Schema. Reinstalled
# only when node_modules is missing or the lockfile changes.
GS="$ROOT/tools/grafana-schema"
if ! command -v npm >/dev/null 2>&1; then
  say "npm not found: skipping $GS (the dashboard schema tests will skip)"
else
  gs_stamp="$GS/node_modules/.memwatch-installed"
  gs_want="$(cat "$GS/package.json" "$GS/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$gs_stamp" 2>/dev/null)" != "$gs_want" ]; then
    say "installing Grafana's dashboard schema into $GS/node_modules"
    gs_log="$(mktemp)"
    if ! (cd "$GS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
         >"$gs_log" 2>&1; then
      cat "$gs_log" >&2; rm -f "$gs_log"; say "npm ci failed in $GS"; exit 1
    fi
    rm -f "$gs_log"
    echo "$gs_want" > "$gs_stamp"
  fi
fi
