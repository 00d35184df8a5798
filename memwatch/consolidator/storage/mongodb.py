"""The MongoDB repository: for several consolidators sharing one history in MongoDB.

Collections `consolidator_alerts`, `consolidator_daily`, `consolidator_days`,
`consolidator_snapshots`, `consolidator_responses`, `consolidator_alert_archive` and
`consolidator_meta` (the revision, see Repository.revision);
documents get ObjectId `_id`s and the natural keys carry unique indexes (alerts:
fingerprint + starts_at; daily: store + day; snapshots: store + at; days: day; archive:
alertname + store + labels).

Ingest is idempotent through upserts on the natural key with `$setOnInsert`, so a
re-delivered occurrence matches the stored one and changes nothing; a resolution is a
`$set` filtered on `resolved_at: null`, so it is recorded once. There are no transactions
(they need a replica set): a delivery is validated and serialised before anything is sent,
then written as one ordered bulk write (a single command). If that command fails partway,
the occurrences before the failure stay stored, the webhook answers 503, and Alertmanager
re-sends the whole delivery until it gets a 2xx: the re-delivery stores the rest and finds
the earlier ones already there, so the history ends up complete and without duplicates.
Every write uses write concern w=1 with j=true (acknowledged and journaled) unless the URI
sets a stronger one.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import (
    ASCENDING,
    DESCENDING,
    DeleteMany,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateOne,
    WriteConcern,
)
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.uri_parser import parse_uri

from memwatch.consolidator.records import (
    ARCHIVE_COLUMNS,
    DAILY_COLUMNS,
    RUN_COLUMNS,
    SNAPSHOT_COLUMNS,
    AlertAggregate,
    AlertRecord,
    DailyRow,
    IngestResult,
    LateDays,
    RecentAlerts,
    ResponseRun,
    Snapshot,
    duration_us,
    fold,
    labels_text,
    late_days,
)
from memwatch.consolidator.storage.base import StorageInfo
from memwatch.consolidator.storage.revision import SharedRevision
from memwatch.consolidator.storage.stats import series_from_stats

DEFAULT_DATABASE = "memwatch_consolidator"
STALE_BATCH_SECONDS = 600  # a prune batch left this long is a crashed prune's


Doc = dict[str, Any]


def _write_concern(client: pymongo.MongoClient[Doc]) -> WriteConcern:
    """The URI's write concern when it asks for one; else acknowledged and journaled."""
    given = client.write_concern.document
    if given:
        doc = {"w": 1, "j": True, **given}
        if doc.get("w") == 0:  # an unacknowledged write would not be durable on return
            doc["w"] = 1
        return WriteConcern(**doc)
    return WriteConcern(w=1, j=True)


def database_name(uri: str, database: str | None) -> str:
    """The spec's database, else the URI's (`mongodb://host/NAME`), else the default."""
    return database or parse_uri(uri).get("database") or DEFAULT_DATABASE


class MongoRepository:
    """A pymongo client (thread safe, reconnecting by itself); a lock keeps one delivery's
    check-and-write sequence from interleaving with another's in this process."""

    def __init__(self, uri: str, database: str | None = None,
                 timeout_ms: int = 5000) -> None:
        self._client: pymongo.MongoClient[Doc] = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms, 30_000), appname="memwatch-consolidator")
        self._db: Database[Doc] = self._client.get_database(
            database_name(uri, database), write_concern=_write_concern(self._client))
        self._lock = threading.Lock()
        self._alerts = self._db["consolidator_alerts"]
        self._daily = self._db["consolidator_daily"]
        self._days = self._db["consolidator_days"]
        self._late = self._db["consolidator_late_days"]
        self._snaps = self._db["consolidator_snapshots"]
        self._runs = self._db["consolidator_responses"]
        self._archive = self._db["consolidator_alert_archive"]
        self._alerts.create_index([("fingerprint", ASCENDING), ("starts_at", ASCENDING)],
                                  unique=True, name="occurrence")
        self._alerts.create_index([("alertname", ASCENDING), ("store", ASCENDING),
                                   ("starts_at", ASCENDING)], name="name_store")
        self._daily.create_index([("store", ASCENDING), ("day", ASCENDING)], unique=True,
                                 name="store_day")
        self._days.create_index([("day", ASCENDING)], unique=True, name="day")
        self._snaps.create_index([("store", ASCENDING), ("at", ASCENDING)], unique=True,
                                 name="store_at")
        self._runs.create_index([("at", ASCENDING)], name="at")
        self._archive.create_index([("alertname", ASCENDING), ("store", ASCENDING),
                                    ("labels", ASCENDING)], unique=True, name="series")
        self._alerts.create_index([("prune_batch", ASCENDING)], name="prune_batch")
        self._alerts.create_index([("resolved_at", ASCENDING), ("starts_at", ASCENDING)],
                                  name="resolved")
        self._meta = self._db["consolidator_meta"]
        self._meta.create_index([("key", ASCENDING)], unique=True, name="key")
        with contextlib.suppress(DuplicateKeyError):  # another consolidator made it first
            self._meta.update_one({"key": "revision"}, {"$setOnInsert": {"n": 0}},
                                  upsert=True)
        self._backfill_durations()
        self._revision = SharedRevision(self._read_revision)

    def _backfill_durations(self) -> None:
        """Alerts resolved before `duration_us` was stored (by an earlier version) get it."""
        docs = self._alerts.find({"resolved_at": {"$ne": None},
                                  "duration_us": {"$exists": False}},
                                 {"fingerprint": 1, "starts_at": 1, "resolved_at": 1})
        ops = [UpdateOne({"_id": d["_id"]}, {"$set": {"duration_us": duration_us(
            d["starts_at"], d["resolved_at"])}}) for d in docs]
        if ops:
            self._alerts.bulk_write(ops, ordered=False)

    @property
    def database(self) -> str:
        return self._db.name

    # -- alerts -------------------------------------------------------------------------

    @staticmethod
    def _alert_doc(a: AlertRecord) -> Doc:
        # labels and annotations as JSON text, like the SQL backends: any key is storable;
        # duration_us (0 until resolved) lets the server sum the durations (alert_series)
        return {"fingerprint": a.fingerprint, "starts_at": a.starts_at,
                "alertname": a.alertname, "store": a.store, "severity": a.severity,
                "labels": labels_text(a.labels),
                "annotations": json.dumps(a.annotations, sort_keys=True),
                "generator_url": a.generator_url, "received_at": a.received_at,
                "resolved_at": a.resolved_at,
                "duration_us": 0 if a.resolved_at is None else duration_us(a.starts_at,
                                                                           a.resolved_at)}

    def _bump(self) -> None:
        """After the write (no transaction here): a reader may compute from the change
        under the previous revision, and computes again when this one arrives."""
        doc = self._meta.find_one_and_update({"key": "revision"}, {"$inc": {"n": 1}},
                                             {"_id": 0, "n": 1},
                                             return_document=ReturnDocument.AFTER)
        self._revision.seen(int(doc["n"]) if doc else 0)

    def _read_revision(self) -> int:
        doc = self._meta.find_one({"key": "revision"}, {"_id": 0, "n": 1})
        return int(doc["n"]) if doc else 0

    def revision(self) -> int:
        return self._revision.value()

    def ingest_batch(self, deliveries: list[list[AlertRecord]]
                     ) -> list[IngestResult | Exception]:
        """One bulk write a delivery, in turn (they are serialised by the lock anyway)."""
        out: list[IngestResult | Exception] = []
        for alerts in deliveries:
            try:
                out.append(self.ingest(alerts))
            except Exception as exc:
                out.append(exc)
        return out

    def ingest(self, alerts: list[AlertRecord]) -> IngestResult:
        # everything serialised first: a record that cannot be stored writes nothing
        docs = [self._alert_doc(a) for a in alerts]
        if not docs:
            return IngestResult()
        # upserts first, then resolutions: one ordered bulk write (one command)
        ops: list[UpdateOne] = [
            UpdateOne({"fingerprint": d["fingerprint"], "starts_at": d["starts_at"]},
                      {"$setOnInsert": d}, upsert=True) for d in docs]
        ops += [UpdateOne({"fingerprint": a.fingerprint, "starts_at": a.starts_at,
                           "resolved_at": None},
                          {"$set": {"resolved_at": a.resolved_at,
                                    "duration_us": duration_us(a.starts_at, a.resolved_at)}})
                for a in alerts if a.resolved_at is not None]
        with self._lock:
            self._note_late(alerts)
            try:
                res = self._alerts.bulk_write(ops, ordered=True)
            except BaseException:
                with contextlib.suppress(PyMongoError):
                    self._bump()  # part of it may be stored
                raise
            if res.upserted_count or res.modified_count:
                self._bump()
        result = IngestResult()
        inserted = {i for i in (res.upserted_ids or {}) if i < len(alerts)}
        for i in sorted(inserted):
            a = alerts[i]
            result.stored += 1
            result.resolved += a.resolved_at is not None
            if a.resolved_at is None:
                result.new_firing.append(a)
        result.resolved += res.modified_count
        result.duplicates = len(alerts) - result.stored - res.modified_count
        return result

    def _note_late(self, alerts: list[AlertRecord]) -> None:
        """Before the write (no transaction to hold both): the days that this delivery's
        late records would alter, noted if the records are new or newly resolved. A crash
        after the note and before the write costs a recount, never a missed day. Only
        late records are looked up, so the common delivery reads nothing."""
        late = [a for a in alerts if late_days([(a, True)] if a.resolved_at is None
                                               else [(a, True), (a, False)])]
        if not late:
            return
        known = {(d["fingerprint"], d["starts_at"]): d.get("resolved_at") for d in
                 self._alerts.find({"$or": [{"fingerprint": a.fingerprint,
                                             "starts_at": a.starts_at} for a in late]},
                                   {"_id": 0, "fingerprint": 1, "starts_at": 1,
                                    "resolved_at": 1})}
        changed = [(a, (a.fingerprint, a.starts_at) not in known) for a in late
                   if (a.fingerprint, a.starts_at) not in known
                   or (a.resolved_at and known[(a.fingerprint, a.starts_at)] is None)]
        note = late_days(changed)
        if note is not None:
            self._late.insert_one({"lo": note.lo, "hi": note.hi})

    def late_days(self) -> list[LateDays]:
        return [LateDays(d["lo"], d["hi"], str(d["_id"]))
                for d in self._late.find({}).sort([("_id", ASCENDING)])]

    def alerts(self, *, alertname: str | None = None, store: str | None = None
               ) -> list[AlertRecord]:
        query: Doc = {}
        if alertname is not None:
            query["alertname"] = alertname
        if store is not None:
            query["store"] = store
        docs = self._alerts.find(query, {"_id": 0}).sort(
            [("starts_at", ASCENDING), ("fingerprint", ASCENDING)])
        return [self._record(d) for d in docs]

    @staticmethod
    def _record(d: Doc) -> AlertRecord:
        return AlertRecord(
            fingerprint=d["fingerprint"], starts_at=d["starts_at"], alertname=d["alertname"],
            store=d["store"], severity=d["severity"], labels=json.loads(d["labels"]),
            annotations=json.loads(d["annotations"]), generator_url=d["generator_url"],
            received_at=d["received_at"], resolved_at=d.get("resolved_at"))

    def count_alerts(self) -> int:
        return int(self._alerts.count_documents({}))

    def recent_alerts(self, since: str, limit: int) -> RecentAlerts:
        """Four reads on the (resolved_at, starts_at) index."""
        firing = self._alerts.find({"resolved_at": None}, {"_id": 0}).sort(
            [("starts_at", DESCENDING), ("fingerprint", DESCENDING)]).limit(limit)
        recent = {"resolved_at": {"$gte": since}}
        resolved = self._alerts.find(recent, {"_id": 0}).sort(
            [("resolved_at", DESCENDING), ("fingerprint", DESCENDING)]).limit(limit)
        stores = self._alerts.aggregate([
            {"$match": {"resolved_at": None}},
            {"$group": {"_id": "$store", "n": {"$sum": 1}, "first": {"$min": "$starts_at"}}}])
        return RecentAlerts(firing=[self._record(d) for d in firing],
                            resolved=[self._record(d) for d in resolved],
                            firing_stores={str(d["_id"]): (int(d["n"]), str(d["first"]))
                                           for d in stores},
                            resolved_total=int(self._alerts.count_documents(recent)))

    def alert_series(self) -> list[AlertAggregate]:
        """Summed by the server (no aggregate is kept up to date here: without a
        transaction it could drift from the alerts after a partial write)."""
        series = {f: f"${f}" for f in ("alertname", "store", "labels", "severity")}
        docs = self._alerts.aggregate([{"$group": {
            "_id": series, "days": {"$addToSet": {"$substrBytes": ["$starts_at", 0, 10]}},
            "occurrences": {"$sum": 1},
            "resolved": {"$sum": {"$cond": [
                {"$eq": [{"$type": "$resolved_at"}, "string"]}, 1, 0]}},
            "duration_us": {"$sum": "$duration_us"}, "first_seen": {"$min": "$starts_at"},
            "last_seen": {"$max": "$starts_at"}}}])
        return series_from_stats(
            (d["_id"]["alertname"], d["_id"]["store"], d["_id"]["labels"],
             d["_id"]["severity"], ",".join(d["days"]), d["occurrences"], d["resolved"],
             d["duration_us"], d["first_seen"], d["last_seen"]) for d in docs)

    # -- daily rows ---------------------------------------------------------------------

    def save_days(self, rows: list[DailyRow], days: list[str],
                  settled: Sequence[LateDays] = ()) -> None:
        """Not a transaction: the days' rows are replaced in one ordered bulk write and the
        days marked consolidated (and the settled late notes dropped) only after it, so a
        failure leaves them as they were and the next run consolidates them again (the
        result is the same rows)."""
        if not days and not rows and not settled:
            return
        docs = [{c: getattr(r, c) for c in DAILY_COLUMNS} for r in rows]
        keep = {(d["store"], d["day"]) for d in docs}
        ops: list[Any] = [ReplaceOne({"store": d["store"], "day": d["day"]}, d, upsert=True)
                          for d in docs]
        # rows of these days that the new rows do not replace go
        stale = [{"store": s, "day": day} for day in days
                 for s in self._daily.distinct("store", {"day": day}) if (s, day) not in keep]
        ops += [DeleteMany(q) for q in stale]
        with self._lock:
            if ops:
                self._daily.bulk_write(ops, ordered=True)
            if days:
                self._days.bulk_write([UpdateOne({"day": d}, {"$setOnInsert": {"day": d}},
                                                 upsert=True) for d in days], ordered=True)
            if settled:
                self._late.delete_many({"_id": {"$in": [ObjectId(str(n.mark))
                                                        for n in settled]}})
            self._bump()

    def daily(self, store: str | None = None) -> list[DailyRow]:
        query: Doc = {} if store is None else {"store": store}
        docs = self._daily.find(query, {"_id": 0}).sort([("day", ASCENDING),
                                                        ("store", ASCENDING)])
        return [DailyRow(**{c: d[c] for c in DAILY_COLUMNS if c in d}) for d in docs]

    def last_day(self) -> str | None:
        doc = self._days.find_one({}, {"_id": 0, "day": 1}, sort=[("day", -1)])
        return None if doc is None else str(doc["day"])

    # -- snapshots ----------------------------------------------------------------------

    def save_snapshots(self, rows: list[Snapshot]) -> None:
        if not rows:
            return
        ops = [ReplaceOne({"store": r.store, "at": r.at},
                          {c: getattr(r, c) for c in SNAPSHOT_COLUMNS}, upsert=True)
               for r in rows]
        with self._lock:
            self._snaps.bulk_write(ops, ordered=True)

    def snapshots(self, store: str | None = None, since: str | None = None
                  ) -> list[Snapshot]:
        query: Doc = {} if store is None else {"store": store}
        if since is not None:
            query["at"] = {"$gte": since}
        docs = self._snaps.find(query, {"_id": 0}).sort([("at", ASCENDING),
                                                        ("store", ASCENDING)])
        return [Snapshot(**{c: d[c] for c in SNAPSHOT_COLUMNS if c in d}) for d in docs]

    def prune_snapshots(self, before: str) -> int:
        last = self.last_day()
        if last is None:
            return 0
        # on a consolidated day: taken before the start of the day after the last one
        limit = min(before, f"{last}T99")
        with self._lock:
            return int(self._snaps.delete_many({"at": {"$lt": limit}}).deleted_count)

    # -- alert retention ----------------------------------------------------------------

    def prune_alerts(self, before: str) -> int:
        """Without a transaction, in steps that a retry after a crash completes without
        counting anything twice: (1) the prunable alerts are marked with a new batch token
        (`prune_batch`, one atomic update per document; alerts already marked keep their
        earlier token); (2) for each pending token, oldest first, its alerts are folded and
        each series' aggregate takes the batch at most once (a read-modify-write guarded by
        the aggregate's revision, the token recorded in `applied` in the same update);
        (3) the batch's alerts are deleted. A crash after (1) or (2) leaves marked alerts
        that a later prune finishes once the batch is STALE_BATCH_SECONDS old (so that
        several consolidators pruning at once each fold only their own complete batch).
        Until (3), a reader may count a batch's alerts both in the archive and in the
        alerts (a moment's double count, never stored)."""
        last = self.last_day()
        if last is None:
            return 0
        limit = f"{last}T99"  # after every time of the last consolidated day
        mine = ObjectId()
        with self._lock:
            self._alerts.update_many(
                {"starts_at": {"$lt": min(before, limit)}, "prune_batch": None,
                 "resolved_at": {"$ne": None, "$lt": limit}},
                {"$set": {"prune_batch": str(mine)}})
            # this prune's batch, and those a crashed prune left: another consolidator's
            # batch is taken over only once it is stale (it may still be marking)
            stale = mine.generation_time - timedelta(seconds=STALE_BATCH_SECONDS)
            pending = sorted(str(b) for b in self._alerts.distinct(
                "prune_batch", {"prune_batch": {"$ne": None}})
                if b == str(mine) or (ObjectId.is_valid(b)
                                      and ObjectId(b).generation_time < stale))
            pruned = 0
            for batch in pending:
                docs = list(self._alerts.find({"prune_batch": batch}, {"_id": 0}))
                for agg in fold(self._record(d) for d in docs).values():
                    self._archive_batch(agg, batch)
                pruned += int(self._alerts.delete_many({"prune_batch": batch}).deleted_count)
            if pending:
                self._bump()
        return pruned

    def _archive_batch(self, agg: AlertAggregate, batch: str) -> None:
        key = dict(zip(ARCHIVE_COLUMNS[:3], agg.key, strict=True))
        empty = AlertAggregate(agg.alertname, agg.store, agg.labels)
        self._archive.update_one(key, {"$setOnInsert": {
            **dict(zip(ARCHIVE_COLUMNS, empty.row(), strict=True)), "rev": 0,
            "applied": "[]"}}, upsert=True)
        while True:
            doc = self._archive.find_one(key)
            if doc is None:  # pragma: no cover - only if deleted meanwhile
                raise RuntimeError(f"archive entry {key} vanished")
            applied: list[str] = json.loads(doc["applied"])
            if batch in applied:
                return
            merged = AlertAggregate.from_row(doc[c] for c in ARCHIVE_COLUMNS)
            merged.merge(agg)
            # the last 100 tokens: a pending batch is always finished by the next prune
            fields = {**dict(zip(ARCHIVE_COLUMNS, merged.row(), strict=True)),
                      "rev": doc["rev"] + 1, "applied": json.dumps([*applied[-99:], batch])}
            res = self._archive.update_one({**key, "rev": doc["rev"]}, {"$set": fields})
            if res.matched_count == 1:
                return

    def alert_archive(self) -> list[AlertAggregate]:
        docs = self._archive.find({}, {"_id": 0}).sort(
            [("alertname", ASCENDING), ("store", ASCENDING), ("labels", ASCENDING)])
        # an entry created but not yet given its first batch holds nothing
        return [AlertAggregate.from_row(d[c] for c in ARCHIVE_COLUMNS) for d in docs
                if d["occurrences"]]

    # -- responses ----------------------------------------------------------------------

    def record_response(self, run: ResponseRun) -> None:
        with self._lock:
            self._runs.bulk_write([InsertOne({c: getattr(run, c) for c in RUN_COLUMNS})])

    def responses(self) -> list[ResponseRun]:
        docs = self._runs.find({}, {"_id": 0}).sort([("at", ASCENDING), ("_id", ASCENDING)])
        return [ResponseRun(**{c: d[c] for c in RUN_COLUMNS}) for d in docs]

    # -- health -------------------------------------------------------------------------

    def describe(self) -> StorageInfo:
        stats = self._db.command("dbStats")
        size = stats.get("totalSize") or (
            int(stats.get("storageSize") or 0) + int(stats.get("indexSize") or 0))
        host = ",".join(f"{h}:{p}" for h, p in sorted(self._client.nodes)) or "?"
        return StorageInfo(backend="mongodb", location=f"{host}/{self._db.name}",
                           journal_mode=None, alerts=self.count_alerts(),
                           daily_rows=int(self._daily.count_documents({})),
                           last_day=self.last_day(), size_bytes=int(size or 0))

    def ping(self) -> bool:
        try:
            self._client.admin.command("ping")
        except PyMongoError:
            return False
        return True

    def close(self) -> None:
        self._revision.close()
        self._client.close()
