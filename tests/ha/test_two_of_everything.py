"""Two of everything, proven: memwatch past one machine runs on Prometheus's, Alertmanager's
and PostgreSQL's own clustering, nothing of ours.

The stack, every part a separate OS process on 127.0.0.1 (the exporter aside, which is
stateless and served in this process): a Prometheus HA pair (external label `replica`:
a / b, from the rendered `prometheus.replica_label`) scraping the same exporter and sending
to both Alertmanagers, with `alert_relabel_configs` dropping `replica`; two Alertmanagers
in one gossip cluster, loaded with what gen-monitoring rendered, whose routing delivers
every alert to two consolidators (`consolidator_url` and `consolidator_peers`: two
webhooks of one receiver); two
`memwatch consolidate` processes sharing one PostgreSQL database.

The incident: an openclaw-mem store loses every row (MemoryCountZero). Once it fires in
both Prometheus servers and both consolidators have it, one Prometheus, the Alertmanager
that notified and one consolidator are killed with SIGKILL, the consolidator while webhook
deliveries are arriving. Then the store is restored, and the resolution must travel the
survivors only.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from memwatch.consolidator.payload import parse_rfc3339
from memwatch.consolidator.records import AlertRecord, iso
from memwatch.consolidator.storage.postgresql import PostgresRepository
from memwatch.demo.run import Agent
from memwatch.demo.stack import free_port, wait_for
from memwatch.exporter import build_exporter
from memwatch.generators.output import Context, write_tree
from memwatch.generators.pipeline import render_all
from memwatch.server import serve, serve_in_thread
from memwatch.spec import load_spec
from memwatch.webconfig import WebConfig
from tests.consolidator.payloads import alert, payload
from tests.ha.support import (
    Server,
    alertmanager_peer,
    alerts_in,
    binaries,
    consolidator_process,
    firing_in,
    in_cluster_of,
    metric,
    post_webhook,
    print_logs_on_failure,
    prometheus_replica,
    query,
    sent_to,
)
from tests.postgres.cluster import APP_USER, PgCluster

ALERT, STORE = "MemoryCountZero", "openclaw"
MEMORIES = 30
PROBE_ALERT, PROBE_STORE = "HaProbe", "probe"
KILL_AFTER = 20  # webhook deliveries the victim consolidator acknowledged before its kill
WAIT = 60.0  # every bound: tens of seconds, polled

# One spec for everything, as deployed: gen-monitoring renders Prometheus's and
# Alertmanager's config from it, the exporter serves its store, both consolidators read
# their (shared) storage from it: the second consolidator is a consolidator_peers entry,
# another webhook of the consolidator receiver.
SPEC = """\
stores:
  - name: {store}
    preset: openclaw-mem
    path: '{db}'
    spool: '{spool}'
    timeout: 2s
    alerts:
      {alert}: {{for: 3s}}
exporter:
  listen: 127.0.0.1:{exporter}
alerts:
  ram: {{host: false}}
prometheus:
  scrape_interval: 1s
  evaluation_interval: 1s
  alertmanagers: ['127.0.0.1:{am_a}', '127.0.0.1:{am_b}']
  replica_label: replica
routing:
  group_wait: 0s
  group_interval: 1s
  consolidator_url: http://127.0.0.1:{cons_a}/webhook/alerts
  consolidator_peers: ['http://127.0.0.1:{cons_b}/webhook/alerts']
consolidator:
  storage: {{backend: postgresql, dsn_file: '{dsn_file}'}}
  prometheus_url: null
"""


class Probe:
    """Webhook deliveries of synthetic alerts, posted without pause while a consolidator is
    killed: each `pair` alert to both consolidators at once (as Alertmanager's two
    receivers deliver), each `solo` alert to the victim only (so that what the PostgreSQL
    holds of those is what the victim itself committed). Records who acknowledged what."""

    def __init__(self, victim: Server, survivor: Server) -> None:
        self.urls = {"victim": victim.url, "survivor": survivor.url}
        self.pairs: list[str] = []
        self.solos: list[str] = []
        self.acked: dict[str, set[str]] = {"victim": set(), "survivor": set()}
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, name="probe", daemon=True)

    def _run(self) -> None:
        with ThreadPoolExecutor(max_workers=3) as pool:
            i = 0
            while not self.halt.is_set():
                pair, solo = f"pair{i:05d}", f"solo{i:05d}"
                bodies = {pair: _body(pair), solo: _body(solo)}  # one startsAt each
                posts = [(who, fp, pool.submit(post_webhook, self.urls[who], bodies[fp]))
                         for who, fp in (("victim", pair), ("survivor", pair),
                                         ("victim", solo))]
                with self.lock:
                    self.pairs.append(pair)
                    self.solos.append(solo)
                for who, fp, done in posts:
                    if done.result():
                        with self.lock:
                            self.acked[who].add(fp)
                i += 1

    def acknowledged(self, who: str, since: int = 0) -> set[str]:
        """What `who` acknowledged, of the alerts posted from the `since`-th on."""
        with self.lock:
            return {fp for fp in self.acked[who] if int(fp[4:]) >= since}

    def posted(self) -> int:
        with self.lock:
            return len(self.pairs)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the probe did not stop"


def _body(fingerprint: str) -> dict[str, Any]:
    starts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return payload(alert(fingerprint, starts, alertname=PROBE_ALERT, store=PROBE_STORE,
                         severity="info"))


def _counts(consolidators: list[Server]) -> dict[str, dict[str, float]]:
    """Each consolidator's webhook counters (its own /metrics)."""
    names = {"received": "memwatch_consolidator_webhooks_received_total",
             "stored": "memwatch_consolidator_alerts_stored_total",
             "duplicates": "memwatch_consolidator_alerts_duplicate_total",
             "resolved": "memwatch_consolidator_alerts_resolved_total"}
    return {c.name: {k: metric(c.url, n) for k, n in names.items()} for c in consolidators}


def _webhooks_delivered(am: Server) -> float:
    """Webhook requests `am` made that succeeded (its attempts less its failed ones)."""
    return (metric(am.url, "alertmanager_notification_requests_total", integration="webhook")
            - metric(am.url, "alertmanager_notification_requests_failed_total",
                     integration="webhook"))


def test_one_of_each_killed_mid_incident_alert_stored_once_resolved_once(
        pg: PgCluster, tmp_path: Path) -> None:
    prometheus_bin, alertmanager_bin = binaries()
    dbname = f"ha_{uuid.uuid4().hex[:12]}"
    pg.execute(f'CREATE DATABASE {dbname} OWNER "{APP_USER}"', dbname="postgres")
    dsn_file = tmp_path / "consolidator.dsn"
    dsn_file.write_text(pg.dsn(dbname=dbname) + "\n", encoding="utf-8")
    dsn_file.chmod(0o600)
    ports = {k: free_port() for k in ("exporter", "am_a", "am_b", "gossip_a", "gossip_b",
                                      "prom_a", "prom_b", "cons_a", "cons_b")}
    db, spool = tmp_path / "openclaw-mem.sqlite", tmp_path / "spool.jsonl"
    spec_path = tmp_path / "ha.yaml"
    spec_path.write_text(SPEC.format(store=STORE, alert=ALERT, db=db, spool=spool,
                                     dsn_file=dsn_file, **ports), encoding="utf-8")
    spec = load_spec(spec_path)
    rendered = tmp_path / "rendered"
    write_tree(rendered, render_all(spec, Context(spec_name="ha.yaml")))

    with contextlib.ExitStack() as stop:  # unwinds last-started first, even on failure
        stop.callback(pg.execute, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)",
                      dbname="postgres")
        stop.push(partial(print_logs_on_failure, tmp_path / "logs"))
        agent = Agent(db, spool)
        stop.callback(agent.conn.close)
        agent.capture(MEMORIES)
        agent.harvest()
        exporter = build_exporter(spec)
        stop.callback(exporter.close)
        httpd = serve(exporter.app, f"127.0.0.1:{ports['exporter']}", WebConfig())
        serve_in_thread(httpd)
        stop.callback(httpd.server_close)
        stop.callback(httpd.shutdown)

        consolidators = [consolidator_process(spec_path, tmp_path, n, ports[f"cons_{n}"])
                         for n in ("a", "b")]
        alertmanagers = [alertmanager_peer(alertmanager_bin, rendered, tmp_path, n,
                                           ports[f"am_{n}"], ports[f"gossip_{n}"],
                                           [ports[f"gossip_{o}"]])
                         for n, o in (("a", "b"), ("b", "a"))]
        prometheis = [prometheus_replica(prometheus_bin, rendered, tmp_path, n,
                                         ports[f"prom_{n}"]) for n in ("a", "b")]
        for server, ready in [*((c, "/health") for c in consolidators),
                              *((a, "/-/ready") for a in alertmanagers),
                              *((p, "/-/ready") for p in prometheis)]:
            stop.callback(server.stop)  # SIGTERM by PID (SIGKILL after 10 s); no-op if dead
            server.start(ready)
        repo = PostgresRepository(pg.dsn(dbname=dbname))
        stop.callback(repo.close)

        # -- before the incident: one cluster, both replicas scraping ---------------------
        for am in alertmanagers:
            wait_for(f"{am.name} in a settled cluster of two", partial(in_cluster_of, am, 2),
                     WAIT)
        for prom in prometheis:
            wait_for(f"{prom.name} scraping {MEMORIES} memories",
                     partial(query, prom, f"memwatch_store_memories == {MEMORIES}"), WAIT)

        # -- the incident ------------------------------------------------------------------
        agent.lose_everything()
        active_at = {prom.name: wait_for(f"{ALERT} firing in {prom.name}",
                                         partial(firing_in, prom, ALERT), WAIT)["activeAt"]
                     for prom in prometheis}
        for prom in prometheis:  # each replica sent its alerts to each Alertmanager
            for am in alertmanagers:
                wait_for(f"{prom.name} sending to {am.name}", partial(sent_to, prom, am), WAIT)
        in_am = {am.name: wait_for(f"{ALERT} in {am.name}", partial(alerts_in, am, ALERT),
                                   WAIT) for am in alertmanagers}

        def received_by_both() -> bool:
            c = _counts(consolidators)
            return (all(v["received"] >= 1 for v in c.values())
                    and sum(v["stored"] for v in c.values()) >= 1
                    and sum(v["duplicates"] for v in c.values()) >= 1)

        wait_for("both consolidators received it, stored once between them",
                 received_by_both, WAIT)
        before = _counts(consolidators)
        stored = repo.alerts()

        # The pair's two copies are one alert in each Alertmanager: same labels without
        # `replica`, same fingerprint, and it is the one row in PostgreSQL.
        for name, found in in_am.items():
            assert len(found) == 1, f"{name} holds {len(found)} copies: {found}"
            assert "replica" not in found[0]["labels"], found[0]["labels"]
        fingerprints = {found[0]["fingerprint"] for found in in_am.values()}
        assert len(fingerprints) == 1, fingerprints
        assert [(a.alertname, a.store, a.fingerprint, a.resolved_at) for a in stored] == [
            (ALERT, STORE, fingerprints.pop(), None)], stored
        row = stored[0]
        # the occurrence's key is the startsAt both Alertmanagers hold (of the pair's copies,
        # the earliest): when the replicas' rule evaluations fired it (Prometheus sends the
        # firing time, activeAt + `for`)
        for name, found in in_am.items():
            assert iso(parse_rfc3339(found[0]["startsAt"])) == row.starts_at, (name, found, row)
        assert row.starts_at > min(iso(parse_rfc3339(t)) for t in active_at.values()), (
            row, active_at)
        # both consolidators received it; one stored it, the other counted a duplicate
        assert sum(c["stored"] for c in before.values()) == 1, before
        assert sum(c["duplicates"] for c in before.values()) >= 1, before
        notified = {am.name: _webhooks_delivered(am) for am in alertmanagers}
        assert any(notified.values()), f"no Alertmanager notified: {notified}"

        # -- kill -9 one of each -----------------------------------------------------------
        # the replica that fired first (the startsAt stored is its: both evaluate the same
        # rule file at the same instants, so they tie more often than not), the
        # Alertmanager that notified, the consolidator that stored the row: the survivors
        # must carry on without them
        prom_dead = min(prometheis, key=lambda p: parse_rfc3339(active_at[p.name]))
        am_dead = max(alertmanagers, key=lambda am: notified[am.name])
        cons_dead = max(consolidators, key=lambda c: before[c.name]["stored"])
        prom_alive, am_alive, cons_alive = (
            next(s for s in group if s is not dead) for group, dead in (
                (prometheis, prom_dead), (alertmanagers, am_dead),
                (consolidators, cons_dead)))
        probe = Probe(cons_dead, cons_alive)
        probe.start()
        stop.callback(probe.stop)
        wait_for(f"{KILL_AFTER} deliveries acknowledged by {cons_dead.name}",
                 lambda: len(probe.acknowledged("victim")) >= KILL_AFTER, WAIT)
        for victim in (cons_dead, am_dead, prom_dead):
            victim.kill9()
        killed_at = probe.posted()  # the alerts from this one on were posted after the kill
        wait_for(f"{KILL_AFTER} deliveries acknowledged by {cons_alive.name} after the kill",
                 lambda: len(probe.acknowledged("survivor", since=killed_at)) >= KILL_AFTER,
                 WAIT)
        probe.stop()
        assert probe.acknowledged("victim", since=killed_at) == set()

        # -- the store restored: the resolution travels the survivors only ---------------
        agent.capture(MEMORIES)
        agent.harvest()

        def resolved() -> list[AlertRecord] | None:
            got = repo.alerts(alertname=ALERT)
            return got if any(a.resolved_at for a in got) else None

        history = wait_for(f"{ALERT}'s resolution stored", resolved, WAIT)
        wait_for(f"{cons_alive.name} counting the resolution",
                 lambda: metric(cons_alive.url, "memwatch_consolidator_alerts_resolved_total")
                 > before[cons_alive.name]["resolved"], WAIT)
        after = _counts([cons_alive])[cons_alive.name]

        # stored exactly once, resolved once: the same occurrence, now with its end
        assert [(a.fingerprint, a.starts_at) for a in history] == [
            (row.fingerprint, row.starts_at)], history
        assert history[0].resolved_at is not None and history[0].resolved_at > row.starts_at
        assert after["resolved"] - before[cons_alive.name]["resolved"] == 1, (before, after)
        assert sum(c["resolved"] for c in before.values()) == 0, before
        # delivery went on through the surviving Alertmanager, which had left the first
        # notification to its peer
        assert _webhooks_delivered(am_alive) > notified[am_alive.name], notified
        assert firing_in(prom_alive, ALERT) is None

        # nothing acknowledged is lost, nothing is stored twice
        everything = repo.alerts()
        probe_rows = Counter(a.fingerprint for a in everything if a.store == PROBE_STORE)
        assert [a for a in everything if a.store != PROBE_STORE] == history
        assert set(probe_rows.values()) == {1}
        victim_acked, survivor_acked = probe.acknowledged("victim"), \
            probe.acknowledged("survivor")
        assert len(victim_acked) >= KILL_AFTER
        assert victim_acked <= set(probe_rows), sorted(victim_acked - set(probe_rows))[:10]
        # the survivor acknowledged every pair, before the kill and after: all stored
        assert survivor_acked == set(probe.pairs), sorted(set(probe.pairs) - survivor_acked)
        assert set(probe.pairs) <= set(probe_rows)
        # the victim's own solos: those it acknowledged, perhaps one it committed but died
        # before answering, none it never received
        solos = {fp for fp in probe_rows if fp.startswith("solo")}
        assert solos <= set(probe.solos)
        assert victim_acked & set(probe.solos) <= solos
        assert len(solos - victim_acked) <= 1, sorted(solos - victim_acked)
