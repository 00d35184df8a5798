"""The reads the MongoDB backends share: counts, namespaces and the newest time of a
collection, exactly or by estimate, and the sizes of a collection or a database.

Reads only: find, aggregate (never `$out`/`$merge`), count, collStats and dbStats.
`count: exact` scans: one aggregation per collection gives the count, the namespaces and
the newest timestamp together. `count: estimate` reads the count from collection metadata
(`estimated_document_count`, the `count` command without a query), namespaces from a
`$sample` scaled to that count (exact when the collection is no bigger than the sample) and
freshness from the last documents in natural (insertion) order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import OperationFailure

from memwatch import metrics
from memwatch.backends.mongo_client import NAMESPACE_NOT_FOUND, UNAUTHORIZED, Doc
from memwatch.backends.timestamps import to_unix

Tally = defaultdict[str | None, float]
Groups = list[tuple[str | None, float]]

# Estimate mode: documents sampled for namespace counts, documents read for freshness.
SAMPLE_DOCS = 10_000
TAIL_DOCS = 1_000


def tally(keys: Iterable[str] = ()) -> Tally:
    """Counts by label value, with the given keys present (at 0) from the start."""
    out: Tally = defaultdict(float)
    for k in keys:
        out[k] = 0.0
    return out


def newest_of(values: Iterable[Any]) -> float | None:
    times = [t for t in (to_unix(v) for v in values) if t is not None]
    return max(times) if times else None


def get_path(doc: Mapping[str, Any], path: str) -> Any:
    cur: Any = doc
    for key in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def label(value: Any) -> str | None:
    """A group key as a label value (None and "" become `__none__` downstream)."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def apportion(shares: Groups, total: float) -> Groups:
    """Whole numbers for scaled shares that add up to `total` (largest remainder), so a
    sample never shows a spurious `__other__` or a namespace more than the count."""
    floors = [(key, math.floor(v), v - math.floor(v)) for key, v in shares]
    left = round(total) - sum(f for _, f, _ in floors)
    order = sorted(range(len(floors)), key=lambda i: (-floors[i][2], str(floors[i][0])))
    bump = set(order[:max(0, left)])
    return [(key, float(f + (1 if i in bump else 0))) for i, (key, f, _) in enumerate(floors)]


def offset_key(field: str) -> Doc:
    """Aggregation expression: the UTC offset an ISO string ends with (`+hh:mm`, `-hh:mm`,
    `Z`; `other` for strings without one), or the BSON type of a value that is no string."""
    v = f"${field}"
    n: Doc = {"$strLenCP": v}
    at = {"$max": [0, {"$subtract": [n, 6]}]}
    return {"$cond": [
        {"$ne": [{"$type": v}, "string"]}, {"$type": v},
        {"$cond": [
            {"$in": [{"$substrCP": [v, at, 1]}, ["+", "-"]]}, {"$substrCP": [v, at, 6]},
            {"$cond": [{"$eq": [{"$substrCP": [v, {"$max": [0, {"$subtract": [n, 1]}]}, 1]},
                                "Z"]}, "Z", "other"]},
        ]},
    ]}


def unset(field: str) -> Doc:
    """Aggregation test: the field is missing or null."""
    return {"$eq": [{"$ifNull": [f"${field}", None]}, None]}


def size_of_collection(db: Database[Doc], name: str) -> float | None:
    """storageSize + totalIndexSize; 0 for a missing collection; None where the
    server does not offer collStats."""
    try:
        stats = db.command("collStats", name)
    except OperationFailure as exc:
        if exc.code == NAMESPACE_NOT_FOUND:
            return 0.0
        if exc.code == UNAUTHORIZED:
            raise
        return None
    return float(stats.get("storageSize", 0) or 0) + float(
        stats.get("totalIndexSize", 0) or 0)


def size_of_database(db: Database[Doc]) -> float | None:
    try:
        stats = db.command("dbStats")
    except OperationFailure as exc:
        if exc.code == UNAUTHORIZED:
            raise
        return None
    return float(stats.get("storageSize", 0) or 0) + float(stats.get("indexSize", 0) or 0)


def tail_newest(coll: Collection[Doc], fields: tuple[str, ...]) -> float | None:
    """Newest time among the last TAIL_DOCS documents in natural (insertion) order.

    A reverse collection scan asked for by `hint`, not by a `$natural` sort: MongoDB
    honours both, SecantusDB only the hint (it returns a `$natural` sort unreversed, so the
    first documents inserted would be read)."""
    projection = {"_id": 0, **dict.fromkeys(fields, 1)}
    docs = coll.find({}, projection).hint([("$natural", -1)]).limit(TAIL_DOCS)
    return newest_of(get_path(d, f) for d in docs for f in fields)


@dataclass
class Grouped:
    total: float
    top: Groups
    candidates: list[Any]
    watched: dict[str, float]


def grouped(coll: Collection[Doc], key: Any, times: tuple[str, ...], match: Doc, cap: int,
            watch: frozenset[str]) -> Grouped:
    """One scan: the total, the `cap` largest groups, candidates for the newest time
    and the counts of the watched namespaces (`Backend.watch`).

    ISO strings compare as text, which is chronological only among strings with the
    same UTC offset: the maximum is taken per offset (per type for non-strings) and
    the few candidates are parsed here, as mem0's US/Pacific -07:00/-08:00 needs."""
    facets: Doc = {
        "top": [{"$group": {"_id": key, "n": {"$sum": 1}}},
                {"$sort": {"n": -1, "_id": 1}}, {"$limit": cap}],
        "all": [{"$group": {"_id": None, "n": {"$sum": 1}}}],
    }
    for i, f in enumerate(times):
        facets[f"t{i}"] = [{"$group": {"_id": offset_key(f), "t": {"$max": f"${f}"}}}]
    watched = _watched_match(key, watch)
    if watched is not None:
        facets["watched"] = [{"$match": watched},
                             {"$group": {"_id": key, "n": {"$sum": 1}}}]
    pipeline: list[Doc] = [{"$match": match}] if match else []
    pipeline.append({"$facet": facets})
    out = next(iter(coll.aggregate(pipeline)), None) or {}
    whole = (out.get("all") or [{}])[0]
    return Grouped(
        total=float(whole.get("n", 0) or 0),
        top=[(label(g.get("_id")), float(g.get("n", 0))) for g in out.get("top") or []],
        candidates=[g.get("t") for i in range(len(times)) for g in out.get(f"t{i}") or []],
        watched={label(g.get("_id")) or metrics.NO_NAMESPACE: float(g.get("n", 0))
                 for g in out.get("watched") or []} if watched is not None else {})


def _watched_match(key: Any, names: frozenset[str]) -> Doc | None:
    """A $match for the documents of the watched namespaces, when `key` is a plain field
    (`$payload.user_id`); `__none__` stands for a missing or null field."""
    if not names or not isinstance(key, str) or not key.startswith("$"):
        return None
    values: list[Any] = sorted(n for n in names if n != metrics.NO_NAMESPACE)
    if metrics.NO_NAMESPACE in names:
        values.append(None)  # matches null and missing
    return {key[1:]: {"$in": values}}


def sampled(coll: Collection[Doc], key: Any, total: float) -> Groups:
    """Group counts from a $sample of SAMPLE_DOCS documents, scaled to `total`."""
    rows = list(coll.aggregate([{"$sample": {"size": SAMPLE_DOCS}},
                                {"$group": {"_id": key, "n": {"$sum": 1}}}]))
    seen = sum(float(r.get("n", 0)) for r in rows)
    scale = total / seen if seen else 0.0
    return apportion([(label(r.get("_id")), float(r.get("n", 0)) * scale) for r in rows],
                     total)


def counted_groups(coll: Collection[Doc], key: Any, estimate: bool, cap: int,
                   watch: frozenset[str], times: tuple[str, ...] = (),
                   match: Doc | None = None
                   ) -> tuple[float, Groups, float | None, dict[str, float] | None]:
    """(total, groups, newest, watched counts) exactly, or by estimate for a large
    collection (a sample: no watched counts)."""
    if estimate:
        total = float(coll.estimated_document_count())
        if total > SAMPLE_DOCS:
            groups = sampled(coll, key, total)
            newest = tail_newest(coll, times) if times else None
            return total, groups, newest, None
    g = grouped(coll, key, times, match or {}, cap, watch)
    return g.total, g.top, newest_of(g.candidates), g.watched
