"""Automated responses (off by default): an alert name and minimum severity bound to an
action, a command or an HTTP call receiving the alert as JSON, with a cooldown per store
and a cap per hour. Every execution and its outcome is recorded and counted.

Graduated: when several responses of one alert name match an alert, only those with the
highest `min_severity` the alert reaches run (a critical alert runs the critical tier, not
the warning tier as well).
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from memwatch.consolidator.records import AlertRecord, ResponseRun, iso
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.secrets import redact, resolve
from memwatch.spec.consolidator import ResponseAction

log = logging.getLogger("memwatch.consolidator")
RANK = {"info": 0, "warning": 1, "critical": 2}
OUTCOMES = ("ok", "failed", "timeout", "cooldown", "capped")


class RunLog(Protocol):
    def record_response(self, run: ResponseRun) -> None: ...


def select(actions: tuple[ResponseAction, ...], alert: AlertRecord) -> list[ResponseAction]:
    """The responses an alert triggers: its name, store and severity; the highest tier."""
    rank = RANK.get(alert.severity, -1)
    matching = [a for a in actions if a.alertname == alert.alertname
                and (not a.stores or alert.store in a.stores) and rank >= RANK[a.min_severity]]
    if not matching:
        return []
    top = max(RANK[a.min_severity] for a in matching)
    return [a for a in matching if RANK[a.min_severity] == top]


def _execute(action: ResponseAction, body: bytes) -> tuple[str, str]:
    if action.command:
        try:
            proc = subprocess.run(list(action.command), input=body, capture_output=True,
                                  timeout=action.timeout, check=False)
        except subprocess.TimeoutExpired:
            return "timeout", f"no exit within {action.timeout:g}s"
        except OSError as exc:
            return "failed", f"cannot run: {exc.strerror or exc}"
        tail = proc.stderr.decode(errors="replace").strip()[-300:]
        return ("ok", "exit 0") if proc.returncode == 0 else (
            "failed", f"exit {proc.returncode}: {tail}")
    assert action.http is not None
    headers = {"Content-Type": "application/json"}
    token = resolve(None, action.http.bearer_token_file, f"responses.{action.name}") \
        if action.http.bearer_token_file else None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(action.http.url, data=body, headers=headers,
                                 method=action.http.method)
    try:
        with urllib.request.urlopen(req, timeout=action.timeout) as resp:
            return "ok", f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return "failed", f"HTTP {exc.code}"
    except TimeoutError:
        return "timeout", f"no answer within {action.timeout:g}s"
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        return ("timeout" if isinstance(reason, TimeoutError) else "failed",
                redact(f"unreachable: {reason}"))


class Responder:
    """Runs responses in a worker thread, so the webhook never waits for an action."""

    def __init__(self, actions: tuple[ResponseAction, ...], runlog: RunLog,
                 metrics: ConsolidatorMetrics,
                 clock: Callable[[], float] = time.time) -> None:
        self.actions, self.runlog, self.metrics, self.clock = actions, runlog, metrics, clock
        self._queue: queue.Queue[AlertRecord | None] = queue.Queue()
        self._last: dict[tuple[str, str], float] = {}  # (response, store) -> last run
        self._hour: dict[str, deque[float]] = {}
        self._thread = threading.Thread(target=self._loop, name="responses", daemon=True)
        for a in actions:
            for outcome in OUTCOMES:
                metrics.responses.labels(a.name, outcome)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=60)

    def submit(self, alerts: list[AlertRecord]) -> None:
        """New firing occurrences only (the caller passes what was stored)."""
        for a in alerts:
            if a.resolved_at is None and select(self.actions, a):
                self._queue.put(a)

    def drain(self) -> None:
        """Wait until every submitted alert has been handled (for tests and shutdown)."""
        self._queue.join()

    def _loop(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                if alert is None:
                    return
                for action in select(self.actions, alert):
                    self._run(action, alert)
            except Exception as exc:  # never let the worker die
                log.error("response failed", extra={"error": str(exc)})
            finally:
                self._queue.task_done()

    def _run(self, action: ResponseAction, alert: AlertRecord) -> None:
        now = self.clock()
        key = (action.name, alert.store)
        window = self._hour.setdefault(action.name, deque())
        while window and window[0] <= now - 3600:
            window.popleft()
        if key in self._last and now - self._last[key] < action.cooldown:
            outcome, detail = "cooldown", f"ran {now - self._last[key]:.0f}s ago"
        elif len(window) >= action.max_per_hour:
            outcome, detail = "capped", f"{action.max_per_hour} runs in the last hour"
        else:
            self._last[key] = now
            window.append(now)
            body = json.dumps({"response": action.name, "alert": alert.as_json()},
                              sort_keys=True).encode()
            outcome, detail = _execute(action, body)
        self.metrics.responses.labels(action.name, outcome).inc()
        log.info("response", extra={"response": action.name, "alertname": alert.alertname,
                                    "store": alert.store, "outcome": outcome})
        self.runlog.record_response(ResponseRun(
            response=action.name, fingerprint=alert.fingerprint, starts_at=alert.starts_at,
            alertname=alert.alertname, store=alert.store,
            at=iso(datetime.fromtimestamp(now, UTC)), outcome=outcome, detail=detail))
