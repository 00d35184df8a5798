"""Reloading the exporter's spec without a restart (SIGHUP, `POST /-/reload`).

The new spec is read and validated in full first; an invalid one changes nothing, is
logged, and `memwatch_config_last_reload_successful` says 0. A valid one swaps the
collector's runners at once: a store whose settings and secrets are unchanged keeps its
runner (its counters, caches and connection); a changed or removed store's runner is
closed once a scrape in flight could still be using it, so no scrape is cut short.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from memwatch import secrets
from memwatch.backends.registry import file_checks, make_backend
from memwatch.collector import GRACE_SECONDS, MemwatchCollector, StoreRunner
from memwatch.errors import SecretError, SpecError
from memwatch.spec import ExporterSpec, StoreBase, load_exporter_spec

log = logging.getLogger("memwatch.reload")


def secret_state(store: StoreBase) -> str:
    """A digest of the store's secrets as they read now (each `X` with an `X_file`): a
    changed password file or environment variable makes the store's runner new."""
    digest = hashlib.sha256()
    fields = type(store).model_fields
    for name in sorted(fields):
        if f"{name}_file" in fields:
            try:
                value = secrets.resolve(getattr(store, name), getattr(store, f"{name}_file"),
                                        name)
            except SecretError as exc:
                value = f"unreadable: {exc}"
            digest.update(f"{name}={value}\0".encode())
    return digest.hexdigest()


class Reloader:
    def __init__(self, spec_path: Path, only: Sequence[str], collector: MemwatchCollector,
                 listen: str) -> None:
        self.spec_path, self.only, self.collector = spec_path, tuple(only), collector
        self.listen = listen
        self.state = collector.reload_state
        self._secrets = {r.name: secret_state(r.store) for r in collector.runners}
        self._lock = threading.Lock()  # one reload at a time

    def reload(self) -> list[str]:
        """Re-read the spec and its secrets; the problems that kept the running one (none
        when the new one is in use)."""
        with self._lock:
            try:
                spec = load_exporter_spec(self.spec_path)
                problems = self._apply(spec)
            except SpecError as err:
                problems = list(err.problems)
            except Exception as exc:  # a backend that cannot be built: keep the old ones
                problems = [f"{self.spec_path}: {secrets.redact(str(exc))}"]
            self.state.successful = not problems
            if problems:
                log.error("reload failed; the running spec stays",
                          extra={"problems": " | ".join(problems)})
            else:
                self.state.success_at = time.time()
            return problems

    def _apply(self, spec: ExporterSpec) -> list[str]:
        if missing := spec.unknown_stores(self.only):
            return [f"{self.spec_path}: --store {', '.join(missing)}: no such store in the "
                    "new spec"]
        old = {r.name: r for r in self.collector.runners}
        runners, kept, fresh = [], set(), {}
        for store in spec.select(self.only):
            state = secret_state(store)
            same = old.get(store.name)
            if same is not None and same.store == store and self._secrets.get(
                    store.name) == state:
                runners.append(same)
                kept.add(store.name)
            else:
                runners.append(StoreRunner(store, make_backend(store), file_checks(store)))
            fresh[store.name] = state
        self.collector.set_runners(runners)
        self._secrets = fresh
        for runner in (r for name, r in old.items() if name not in kept):
            _retire(runner)
        if spec.exporter.listen != self.listen:
            log.warning("exporter.listen changed: it takes a restart",
                        extra={"listening": self.listen, "spec": spec.exporter.listen})
        log.info("reloaded", extra={"stores": ",".join(r.name for r in runners),
                                    "kept": ",".join(sorted(kept))})
        return []


def _retire(runner: StoreRunner) -> None:
    """Close a runner the new spec dropped once no scrape in flight can be using it."""
    timer = threading.Timer(runner.store.timeout + 2 * GRACE_SECONDS, runner.close)
    timer.daemon = True
    timer.start()
