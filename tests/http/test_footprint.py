"""`memwatch export` imports only what its stores use (issue 10: the exporter's RSS): run in
a fresh interpreter with a SQLite-only spec, after a scrape, no generator, consolidator or
other driver is loaded and the monitoring sections' models were never built."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from memwatch.demo import openclaw_store

# Imported by the other commands or other backends, never by a SQLite-only exporter.
NOT_IMPORTED = ("jinja2", "grafanalib", "fastapi", "uvicorn", "starlette", "pymongo",
                "psycopg", "bcrypt", "memwatch.generators", "memwatch.consolidator",
                "memwatch.demo", "memwatch.backends.postgres", "memwatch.backends.mongodb")

# The exporter's own process: `memwatch export` on the main thread, a scrape from another,
# then what it loaded, and SIGTERM (the command's own clean stop).
CHILD = """
import json, os, signal, sys, threading, time, urllib.request
port, names = sys.argv[1], json.loads(sys.argv[2])

def probe():
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
                body = r.read().decode()
            break
        except OSError:
            time.sleep(0.05)
    from memwatch import spec
    from memwatch.spec import consolidator as spec_consolidator
    from memwatch.spec import monitoring as spec_monitoring
    print(json.dumps({
        "up": 'memwatch_up{backend="sqlite",store="agent"} 1.0' in body,
        "imported": sorted(n for n in names if n in sys.modules),
        "built": sorted(c.__name__ for c in (
            spec.Spec, spec_monitoring.AlertsSection, spec_monitoring.RoutingSection,
            spec_monitoring.DashboardsSection, spec_consolidator.ConsolidatorSection)
            if c.__pydantic_complete__),
    }), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=probe, daemon=True).start()
from memwatch.cli import main
main(["export", "--spec", sys.argv[3], "--listen", f"127.0.0.1:{port}"])
"""


def test_sqlite_exporter_loads_no_other_backend_or_command(tmp_path: Path) -> None:
    openclaw_store.create(tmp_path / "mem.sqlite").close()
    spec = tmp_path / "spec.yaml"
    # The monitoring sections are in the file (the exporter accepts and skips them).
    spec.write_text(f"stores:\n  - name: agent\n    preset: openclaw-mem\n"
                    f"    path: {tmp_path / 'mem.sqlite'}\n"
                    "alerts: {}\nrouting: {}\nconsolidator: {}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(port), json.dumps(NOT_IMPORTED), str(spec)],
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"up": True, "imported": [], "built": []}, proc.stderr
