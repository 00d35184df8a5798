"""The HA stack's parts as separate OS processes on 127.0.0.1: a Prometheus HA pair, an
Alertmanager cluster gossiping on loopback, consolidators sharing one PostgreSQL database.
Each is a `memwatch.demo.stack.Process` (its output in a log file), started, stopped and,
for the failover, killed with SIGKILL by the PID its starter holds; plus readers for what
they expose (/metrics, Alertmanager's cluster status) and a client posting webhooks."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from memwatch.demo.stack import (
    ALERTMANAGER_BINARIES,
    PROMETHEUS_BINARIES,
    Process,
    StackError,
    find_binary,
    http_json,
    wait_for,
)
from tests.consolidator.support import request

# Alertmanager's cluster, tuned for a test: gossip every 100 ms, so the notification log
# reaches the peer long before the next one in line waits out its peer timeout (2 s), and
# the peer count settles in a few seconds (three stable checks, ten gossip intervals apart).
ALERTMANAGER_CLUSTER_FLAGS = ("--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=5s",
                              "--cluster.peer-timeout=2s", "--cluster.settle-timeout=15s")


def binaries() -> tuple[str, str]:
    """Prometheus and Alertmanager (Debian packages), or skip saying which is missing."""
    try:
        return (find_binary(PROMETHEUS_BINARIES, "prometheus"),
                find_binary(ALERTMANAGER_BINARIES, "prometheus-alertmanager"))
    except StackError as exc:
        print(f"SKIP: {exc}")
        pytest.skip(str(exc))


@dataclass
class Server:
    """One OS process of the stack and the base URL it serves."""

    process: Process
    url: str

    @property
    def name(self) -> str:
        return self.process.name

    def start(self, ready_path: str, timeout: float = 60) -> None:
        self.process.start()

        def ready() -> bool:
            self.process.check()
            with urllib.request.urlopen(self.url + ready_path, timeout=2) as resp:
                return bool(resp.status == 200)
        wait_for(f"{self.name} ready at {self.url}{ready_path}", ready, timeout)

    def kill9(self) -> None:
        """SIGKILL by PID, then reap it: no shutdown of any kind runs."""
        proc = self.process.proc
        assert proc is not None and proc.poll() is None, f"{self.name} is not running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        self.process.stop()


def prometheus_replica(binary: str, rendered: Path, workdir: Path, replica: str,
                       port: int) -> Server:
    """Prometheus with gen-monitoring's prometheus.yml as rendered for an HA pair
    (`prometheus.replica_label`): the replica's name comes from its environment, and the
    label is dropped from the alerts it sends, so that Alertmanager sees one alert."""
    config = yaml.safe_load((rendered / "prometheus" / "prometheus.yml").read_text())
    assert config["global"]["external_labels"] == {"replica": "${PROMETHEUS_REPLICA}"}
    assert config["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop",
                                                            "regex": "replica"}]
    return Server(Process(f"prometheus-{replica}", [
        binary, f"--config.file={rendered / 'prometheus' / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / f'prometheus-{replica}-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        "--enable-feature=expand-external-labels",
    ], workdir / "logs" / f"prometheus-{replica}.log", env={"PROMETHEUS_REPLICA": replica}),
        f"http://127.0.0.1:{port}")


def alertmanager_peer(binary: str, rendered: Path, workdir: Path, name: str, port: int,
                      cluster_port: int, peer_ports: list[int]) -> Server:
    """Alertmanager with the rendered config, gossiping with its peers on 127.0.0.1."""
    return Server(Process(f"alertmanager-{name}", [
        binary, f"--config.file={rendered / 'alertmanager' / 'alertmanager.yml'}",
        f"--storage.path={workdir / f'alertmanager-{name}-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--cluster.listen-address=127.0.0.1:{cluster_port}",
        f"--cluster.advertise-address=127.0.0.1:{cluster_port}",
        *(f"--cluster.peer=127.0.0.1:{p}" for p in peer_ports),
        *ALERTMANAGER_CLUSTER_FLAGS, "--log.level=warn",
    ], workdir / "logs" / f"alertmanager-{name}.log"), f"http://127.0.0.1:{port}")


def consolidator_process(spec: Path, workdir: Path, name: str, port: int) -> Server:
    """`memwatch consolidate`, the way it is deployed: its own process, storage from the spec."""
    return Server(Process(f"consolidator-{name}", [
        sys.executable, "-m", "memwatch.cli", "consolidate", "--spec", str(spec),
        "--listen", f"127.0.0.1:{port}",
    ], workdir / "logs" / f"consolidator-{name}.log"), f"http://127.0.0.1:{port}")


# --- what the servers expose ------------------------------------------------------------------

def metrics(url: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of `url`/metrics: (name, labels, value)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return [(s.name, dict(s.labels), float(s.value))
            for fam in text_string_to_metric_families(text) for s in fam.samples]


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    return sum(v for n, lab, v in metrics(url)
               if n == name and all(lab.get(k) == want for k, want in labels.items()))


def cluster_status(am: Server) -> dict[str, Any]:
    status: dict[str, Any] = http_json(f"{am.url}/api/v2/status")["cluster"]
    return status


def in_cluster_of(am: Server, peers: int) -> bool:
    """The peer sees `peers` members (itself included) and its gossip has settled."""
    status = cluster_status(am)
    return status["status"] == "ready" and len(status["peers"]) == peers


def query(prometheus: Server, expr: str) -> list[dict[str, Any]]:
    q = urllib.parse.urlencode({"query": expr})
    data = http_json(f"{prometheus.url}/api/v1/query?{q}")
    assert data["status"] == "success", data
    return list(data["data"]["result"])


def sent_to(prometheus: Server, am: Server) -> float:
    """Alerts `prometheus` has sent to `am` (its notifier's counter for that target)."""
    target = am.url.removeprefix("http://")
    return sum(v for n, lab, v in metrics(prometheus.url)
               if n == "prometheus_notifications_sent_total"
               and target in lab.get("alertmanager", ""))


def alerts_in(am: Server, alertname: str) -> list[dict[str, Any]]:
    return [a for a in http_json(f"{am.url}/api/v2/alerts")
            if a["labels"].get("alertname") == alertname]


def firing_in(prometheus: Server, alertname: str) -> dict[str, Any] | None:
    for a in http_json(f"{prometheus.url}/api/v1/alerts")["data"]["alerts"]:
        if a["labels"].get("alertname") == alertname and a["state"] == "firing":
            return dict(a)
    return None


def post_webhook(url: str, body: dict[str, Any]) -> bool:
    """True when the consolidator acknowledged (200) the delivery; a refused connection, a
    reset or an error status is no acknowledgement."""
    try:
        status, _, _ = request(url, "POST", "/webhook/alerts", json.dumps(body).encode(),
                               {"Content-Type": "application/json"}, timeout=10)
    except (OSError, http.client.HTTPException):
        return False
    return status == 200



def print_logs_on_failure(folder: Path, exc_type: type[BaseException] | None,
                          exc: BaseException | None, tb: TracebackType | None) -> bool:
    """An ExitStack exit callback: when the test fails, the end of every server's log goes
    to stdout (pytest shows it with the failure); the exception propagates."""
    if exc_type is not None:
        for log in sorted(folder.glob("*.log")):
            print(f"--- {log.name} (last 3000 characters)")
            print(log.read_text(errors="replace")[-3000:])
    return False
