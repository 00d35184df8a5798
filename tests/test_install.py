"""The install story: README.md's "Install" block for a checkout, run as written in a fresh
venv (the wheel built from this tree, its dependencies from the package index), gives every
command; each then runs from that venv: `spec check`, `export` (a real scrape),
`gen-monitoring render`/`check`/`lint`, `consolidate` (a real /health). A dependency the
environment lacks anyway is one line naming what to install, exit 2, no traceback.

One module-scoped venv serves every test. The README block runs in a copy of the sources
(the wheel build writes build/ and dist/ where it runs) with HOME a temporary directory, so
its `~/...` venv is a fresh one; pip's own cache stays where it is, which keeps the install
to seconds once the dependencies were downloaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from memwatch import __version__
from memwatch.demo import openclaw_store as oc
from memwatch.demo.stack import free_port, wait_for
from memwatch.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLE = ROOT / "examples" / "monitoring.yaml"

# the venv install's first test pays for the module fixture (under a minute from pip's cache)
pytestmark = pytest.mark.timeout(900)


def readme_checkout_block() -> str:
    """The shell block of README.md's "## Install" section that builds the wheel."""
    section = re.search(r"^## Install\n(.*?)(?=^## )", README.read_text(), re.M | re.S)
    assert section is not None, "README.md has no '## Install' section"
    blocks = re.findall(r"^```sh\n(.*?)^```", section.group(1), re.M | re.S)
    checkout = [b for b in blocks if "pip wheel" in b]
    assert len(checkout) == 1, f"expected one ```sh block with `pip wheel`, found {blocks}"
    return str(checkout[0])


@dataclass
class Installed:
    venv: Path
    work: Path
    env: dict[str, str]
    output: str  # what the README block printed

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(self, *argv: str, cwd: Path | None = None, timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=cwd or self.work, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, cwd=self.work, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        return proc

    def log(self, name: str) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")


def clean_env(home: Path, path_first: Path) -> dict[str, str]:
    """The caller's environment minus what would reach back into this checkout or its .venv,
    with HOME `home`; pip keeps its real cache (and user config, if any)."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    env = {k: v for k, v in os.environ.items()
           if k not in drop and not k.startswith("PYTEST")}
    cache = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"],
                           capture_output=True, text=True)
    if cache.returncode == 0 and cache.stdout.strip():
        env.setdefault("PIP_CACHE_DIR", cache.stdout.strip())
    for conf in (Path.home() / ".config" / "pip" / "pip.conf", Path.home() / ".pip" / "pip.conf"):
        if conf.is_file() and "PIP_CONFIG_FILE" not in env:
            env["PIP_CONFIG_FILE"] = str(conf)
    env["HOME"] = str(home)
    env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
    return env


def copy_sources(dest: Path) -> None:
    """What the wheel is built from: pyproject.toml, README.md (its long description) and
    the package (setuptools' packages.find includes memwatch* only)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "memwatch", dest / "memwatch",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    block = readme_checkout_block()
    base = tmp_path_factory.mktemp("install")
    home, shim, work = base / "home", base / "bin", base / "work"
    for d in (home, shim, work):
        d.mkdir()
    # `python3` in the block: the interpreter this venv was made from (python >= 3.11)
    (shim / "python3").symlink_to(Path(sys.base_prefix) / "bin" /
                                  f"python{sys.version_info.major}.{sys.version_info.minor}")
    copy_sources(base / "src")
    env = clean_env(home, shim)
    start = time.monotonic()
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=base / "src", env=env,
                         capture_output=True, text=True, timeout=840)
    took = time.monotonic() - start
    print(f"README install block: {took:.1f}s")
    assert res.returncode == 0, f"the README block failed:\n{block}\n{res.stdout}{res.stderr}"
    made = re.search(r"python3 -m venv (\S+)", block)
    assert made is not None, f"no `python3 -m venv DIR` in the README block:\n{block}"
    venv = Path(made.group(1).replace("~", str(home), 1))
    assert (venv / "bin" / "memwatch").is_file(), f"no memwatch in {venv}/bin"
    return Installed(venv, work, env, res.stdout + res.stderr)


def test_readme_block_installs_the_wheel_with_every_dependency(installed: Installed) -> None:
    assert f"memwatch, version {__version__}" in installed.output
    where = installed.run(installed.bin("python"), "-c",
                          "import memwatch; print(memwatch.__file__)")
    assert where.stdout.startswith(str(installed.venv)), where.stdout + where.stderr
    # every command's packages, psycopg with a loadable libpq (its binary wheel)
    probe = installed.run(installed.bin("python"), "-c",
                          "import fastapi, grafanalib, httptools, pymongo, uvicorn, uvloop\n"
                          "import psycopg; print(psycopg.pq.version())")
    assert probe.returncode == 0, probe.stderr
    assert int(probe.stdout) >= 100000  # libpq's version number, e.g. 170004
    check = installed.run(installed.bin("pip"), "check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_spec_check(installed: Installed) -> None:
    res = installed.run(installed.bin("memwatch"), "spec", "check", str(EXAMPLE))
    stores = load_spec(EXAMPLE).stores
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout == (f"{EXAMPLE}: ok ({len(stores)} stores: "
                          f"{', '.join(s.name for s in stores)})\n")


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM by PID, then wait; SIGKILL if it does not stop within 15 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        raise


EXPORT_SPEC = """\
stores:
  - name: agent
    preset: openclaw-mem
    path: '{db}'
  - name: mem0
    preset: mem0-pgvector
    dsn: postgresql://memwatch@127.0.0.1:{closed}/mem0
    timeout: 2s
  - name: clawmongo
    preset: clawmongo
    uri: mongodb://127.0.0.1:{closed}/
    timeout: 2s
"""


def test_export_serves_metrics(installed: Installed) -> None:
    """An openclaw-mem store counted; a PostgreSQL and a MongoDB store whose server is down
    are `memwatch_up 0` for a connection error: their drivers are installed and load."""
    db = installed.work / "export.sqlite"
    conn = oc.create(db)
    for n in range(3):
        oc.insert_observation(conn, f"2026-01-0{n + 1}T00:00:00.000Z", "exec", f"obs {n}")
    conn.close()
    spec = installed.work / "export.yaml"
    spec.write_text(EXPORT_SPEC.format(db=db, closed=free_port()))
    port = free_port()
    proc = installed.start("export", installed.bin("memwatch"), "export", "--spec", str(spec),
                           "--listen", f"127.0.0.1:{port}")

    def metrics() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}:\n{installed.log('export')}")
        return scrape(f"http://127.0.0.1:{port}/metrics")

    try:
        got = wait_for("the exporter's /metrics", metrics, 60)
    finally:
        rc = stop(proc)
    log = installed.log("export")
    assert rc == 0, log

    def value(name: str, **labels: str) -> float | None:
        return got.get((name, frozenset(labels.items())))

    assert value("memwatch_up", store="agent", backend="sqlite") == 1.0, log
    assert value("memwatch_store_memories", store="agent") == 3.0
    for store, backend in (("mem0", "postgresql"), ("clawmongo", "mongodb")):
        assert value("memwatch_up", store=store, backend=backend) == 0.0, log
        failed = {r: value("memwatch_collection_errors_total", store=store, reason=r)
                  for r in ("connect", "timeout", "internal", "config")}
        assert (failed["connect"] or 0) + (failed["timeout"] or 0) >= 1, (store, failed)
        assert (failed["internal"], failed["config"]) == (0.0, 0.0), (store, failed)


def test_render_and_check(installed: Installed) -> None:
    out = installed.work / "rendered"
    res = installed.run(installed.bin("gen-monitoring"), "render", "--spec", str(EXAMPLE),
                        "--out", str(out))
    assert res.returncode == 0, res.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert re.search(rf"^rendered {len(files)} files into {re.escape(str(out))} in ", res.stderr,
                     re.M), res.stderr
    assert {"rules/alerts.yml", "alertmanager/alertmanager.yml",
            "prometheus/prometheus.yml"} <= set(files)
    assert any(f.startswith("dashboards/") and f.endswith(".json") for f in files)  # grafanalib
    check = [installed.bin("gen-monitoring"), "check", "--spec", str(EXAMPLE), "--out", str(out)]
    same = installed.run(*check)
    assert same.returncode == 0, same.stdout + same.stderr
    assert f"{out}: up to date ({len(files)} files)" in same.stderr.splitlines(), same.stderr
    (out / "rules" / "alerts.yml").write_text("groups: []\n")
    drift = installed.run(*check)
    assert drift.returncode == 1 and "rules/alerts.yml" in drift.stdout + drift.stderr


SMALL_SPEC = """\
stores:
  - name: agent
    preset: openclaw-mem
    path: '{work}/agent.sqlite'
alerts:  # lint in seconds: no host RAM alerts, no 8-day anomaly replays
  ram: {{host: false}}
  rules:
    MemoryGrowthUnusual: {{enabled: false}}
    MemoryLossUnusual: {{enabled: false}}
consolidator:
  storage: {{backend: sqlite, path: '{work}/consolidator.sqlite'}}
"""


def small_spec(installed: Installed) -> Path:
    spec = installed.work / "small.yaml"
    spec.write_text(SMALL_SPEC.format(work=installed.work))
    return spec


def test_lint(installed: Installed) -> None:
    if shutil.which("promtool") is None:
        reason = "promtool not installed (Debian package prometheus; scripts/bootstrap.sh)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    out = installed.work / "small-rendered"
    gen = installed.bin("gen-monitoring")
    res = installed.run(gen, "render", "--spec", str(small_spec(installed)), "--out", str(out))
    assert res.returncode == 0, res.stderr
    lint = installed.run(gen, "lint", "--out", str(out), timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    lines = lint.stdout.splitlines()
    for step in ("promtool check rules", "promtool test rules", "promtool check config"):
        assert f"ok       {step}" in lines, lint.stdout


# `python -c PRELUDE+RUN_SCRIPT SCRIPT ARGS...`: the console script SCRIPT (pip's, in the
# venv's bin/) run with ARGS, after PRELUDE
RUN_SCRIPT = ("import runpy, sys\nsys.argv = sys.argv[1:]\n"
              "runpy.run_path(sys.argv[0], run_name='__main__')")


def serve_consolidator(installed: Installed, *python_prelude: str) -> dict[str, object]:
    """Start `memwatch consolidate` (through its console script: with a prelude, run by the
    venv's python after it), read /health, stop it by PID; the health answer."""
    port = free_port()
    argv = ["consolidate", "--spec", str(small_spec(installed)), "--listen",
            f"127.0.0.1:{port}"]
    script = installed.bin("memwatch")
    cmd = [script, *argv] if not python_prelude else [
        installed.bin("python"), "-c", "\n".join([*python_prelude, RUN_SCRIPT]), script, *argv]
    proc = installed.start("consolidate", *cmd)

    def health() -> dict[str, object] | None:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}:\n{installed.log('consolidate')}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return json.loads(resp.read()) if resp.status == 200 else None

    try:
        answer = wait_for("the consolidator's /health", health, 60)
    finally:
        rc = stop(proc)
    assert rc == 0, installed.log("consolidate")
    return answer


def test_consolidate(installed: Installed) -> None:
    answer = serve_consolidator(installed)
    assert (answer["status"], answer["version"]) == ("ok", __version__)


def test_consolidate_without_uvloop_and_httptools(installed: Installed) -> None:
    """Where they are not installed (uvloop has no Windows build) uvicorn's h11 and asyncio
    serve instead."""
    answer = serve_consolidator(
        installed, "import sys", "sys.modules['uvloop'] = sys.modules['httptools'] = None")
    assert answer["status"] == "ok"


MISSING = [
    # (the package made unimportable, the command, what the line names to install)
    ("grafanalib", ["gen-monitoring", "render", "--spec", "{spec}", "--out", "{work}/x"],
     "gen-monitoring render needs the Python package grafanalib", "grafanalib>=0.7.1"),
    ("grafanalib", ["gen-monitoring", "lint", "--out", "{work}/x"],
     "gen-monitoring lint needs the Python package grafanalib", "grafanalib>=0.7.1"),
    ("uvicorn", ["memwatch", "consolidate", "--spec", "{spec}"],
     "memwatch consolidate needs the Python package uvicorn", "uvicorn>=0.29"),
    ("fastapi", ["memwatch", "consolidate", "--spec", "{spec}"],
     "memwatch consolidate needs the Python package fastapi", "fastapi>=0.110"),
    ("grafanalib", ["memwatch", "demo", "--once"],
     "memwatch demo needs the Python package grafanalib", "grafanalib>=0.7.1"),
    ("uvicorn", ["memwatch", "demo", "--once"],
     "memwatch demo needs the Python package uvicorn", "uvicorn>=0.29"),
    ("psycopg", ["memwatch", "export", "--spec", "{pg_spec}"],
     "memwatch export needs the Python package psycopg", "psycopg[binary]>=3.1"),
    ("pymongo", ["memwatch", "export", "--spec", "{mongo_spec}"],
     "memwatch export needs the Python package pymongo", "pymongo>=4.6"),
]


@pytest.mark.parametrize(("package", "argv", "says", "install"), MISSING,
                         ids=[f"{argv[1]}-{pkg}" for pkg, argv, _, _ in MISSING])
def test_a_missing_package_is_one_line(installed: Installed, package: str, argv: list[str],
                                       says: str, install: str) -> None:
    work = installed.work
    (work / "pg.yaml").write_text(
        "stores:\n  - {name: m, preset: mem0-pgvector, dsn: 'postgresql://h/db'}\n")
    (work / "mongo.yaml").write_text(
        "stores:\n  - {name: c, preset: clawmongo, uri: 'mongodb://127.0.0.1:1/'}\n")
    args = [a.format(spec=small_spec(installed), work=work, pg_spec=work / "pg.yaml",
                     mongo_spec=work / "mongo.yaml") for a in argv[1:]]
    prelude = f"import sys\nsys.modules[{package!r}] = None"
    res = installed.run(installed.bin("python"), "-c", f"{prelude}\n{RUN_SCRIPT}",
                        installed.bin(argv[0]), *args, timeout=60)
    assert "Traceback" not in res.stderr, res.stderr
    assert (res.returncode, res.stdout) == (2, ""), res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith(f"error: {says}, which is not installed: "
                                 f"pip install '{install}'"), res.stderr


def test_an_incompatible_version_or_libpq_is_one_line_and_a_bug_is_not_hidden() -> None:
    """The import failures the entry points explain besides a missing package; any other
    (memwatch's own) is left to raise."""
    from memwatch.optional import import_error_line

    old = ImportError("cannot import name 'Dashboard' from 'grafanalib.core'",
                      name="grafanalib.core")
    line = import_error_line("gen-monitoring render", old)
    assert line is not None and "\n" not in line
    assert line.startswith("error: gen-monitoring render: cannot import grafanalib.core: the "
                           "installed grafanalib does not match memwatch's requirement: "
                           "pip install 'grafanalib"), line
    libpq = ImportError("no pq wrapper available.\nAttempts made:\n- couldn't import psycopg "
                        "'python' implementation: libpq library not found")
    line = import_error_line("memwatch export", libpq)
    assert line is not None and "\n" not in line
    assert line.startswith("error: memwatch export: psycopg cannot load libpq: pip install "
                           "'psycopg"), line
    bug = ImportError("cannot import name 'OWNED' from 'memwatch.generators.pipeline'",
                      name="memwatch.generators.pipeline")
    assert import_error_line("gen-monitoring render", bug) is None
    assert import_error_line("memwatch demo", ModuleNotFoundError("x", name="nosuchmod")) is None
