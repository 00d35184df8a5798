"""Reloading the consolidator's spec section without a restart (SIGHUP).

What a running consolidator can take at once: the bearer token (its file read again, so a
rotated token works without a restart), and what its schedulers read on their next run:
the stores, the consolidation hour, the retention, and the snapshots' Prometheus and
interval. The rest (`listen`, `storage`, `max_body_bytes`, the knowledge base's pattern
settings, the automated responses, `reports_dir`) is bound to what was built at the start:
a change to it is logged as taking a restart. An invalid spec, or a token file that cannot
be read, changes nothing, is logged, and sets
`memwatch_consolidator_config_last_reload_successful` to 0.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from memwatch.consolidator.scheduler import DailyScheduler, SnapshotScheduler
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.errors import SecretError, SpecError
from memwatch.secrets import resolve
from memwatch.spec import Spec, load_spec
from memwatch.spec.consolidator import ConsolidatorSection

log = logging.getLogger("memwatch.consolidator")

# applied by the next scheduler run; every other key of the section takes a restart
LIVE_KEYS = frozenset({"bearer_token_file", "consolidation_hour_utc", "retention_days",
                       "prometheus_url", "snapshot_interval"})


class BearerToken:
    """The webhook's bearer token, swapped whole by a reload (a read of one attribute)."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def __call__(self) -> str | None:
        return self.value


def read_token(section: ConsolidatorSection) -> str | None:
    if section.bearer_token_file is None:
        return None
    return resolve(None, section.bearer_token_file, "consolidator.bearer_token_file")


class ConsolidatorReloader:
    def __init__(self, spec_path: Path, spec: Spec, token: BearerToken,
                 daily: DailyScheduler, snapshots: SnapshotScheduler | None,
                 metrics: ConsolidatorMetrics) -> None:
        self.spec_path, self.spec, self.token = spec_path, spec, token
        self.daily, self.snapshots, self.metrics = daily, snapshots, metrics
        self._lock = threading.Lock()
        metrics.reload_successful.set(1)
        metrics.reload_success_time.set(time.time())

    def reload(self) -> list[str]:
        """Re-read the spec; the problems that kept the running settings (none: applied)."""
        with self._lock:
            try:
                spec = load_spec(self.spec_path)
                token = read_token(spec.consolidator)
            except SpecError as err:
                return self._failed(list(err.problems))
            except SecretError as err:
                return self._failed([str(err)])
            self._apply(spec, token)
            return []

    def _failed(self, problems: list[str]) -> list[str]:
        self.metrics.reload_successful.set(0)
        log.error("reload failed; the running settings stay",
                  extra={"problems": " | ".join(problems)})
        return problems

    def _apply(self, spec: Spec, token: str | None) -> None:
        old, new = self.spec.consolidator, spec.consolidator
        self.token.value = token
        stores = [s.name for s in spec.stores]
        self.daily.stores, self.daily.hour = stores, new.consolidation_hour_utc
        self.daily.retention_days = new.retention_days
        if self.snapshots is not None and new.prometheus_url:
            self.snapshots.stores, self.snapshots.url = stores, new.prometheus_url
            self.snapshots.interval = new.snapshot_interval
        restart = sorted(k for k in type(new).model_fields
                         if k not in LIVE_KEYS and getattr(old, k) != getattr(new, k))
        if (self.snapshots is None) != (new.prometheus_url is None):
            restart.append("prometheus_url (snapshots on or off)")
        if restart:
            log.warning("reloaded; these take a restart", extra={"keys": ",".join(restart)})
        self.spec = spec
        self.metrics.reload_successful.set(1)
        self.metrics.reload_success_time.set(time.time())
        log.info("reloaded", extra={"stores": ",".join(stores)})
