"""mem0-pgvector freshness: the newest `created_at`/`updated_at`, exact, without reading
and casting every row's timestamps on every scrape.

Reading two more jsonb keys per row and grouping by their UTC offsets made the exact scrape
15-19x a raw count(*) (and the planner, with no statistics for the expressions, sorted
and spilled the payload to disk). Instead the newest is kept across scrapes:

- a full pass (the first scrape, a rewritten or truncated table, rows deleted since, and
  at least every FULL_PASS_SECONDS) reads every row's two timestamps once;
- every other scrape folds into its one GROUP BY pass only the rows written since the
  previous pass's snapshot: their `xmin` is at or after that snapshot's xmin (every
  transaction below it had finished, so what it wrote was seen then). Inserts and updates
  both write a new row version, so neither escapes; a delete can only lower the newest,
  and a delete moves the table's n_tup_del, which forces the next full pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg

from memwatch.exporters.sqlbuild import PG_ISO_GUARD

# A full pass at least this often: a standby's statistics never move, so a delete replayed
# there is only noticed here.
FULL_PASS_SECONDS = 3600.0
XID_SPACE = 2**32
# the snapshot's xmin (64-bit, epoch included) at the statement that reads it
SNAPSHOT_XMIN = "txid_snapshot_xmin(txid_current_snapshot())"


def cast(expr: str) -> str:
    """An ISO timestamp string as timestamptz; NULL (not an error) when it is malformed."""
    return f"CASE WHEN ({expr}) ~ '{PG_ISO_GUARD}' THEN ({expr})::timestamptz END"


def offset(expr: str) -> str:
    """The UTC offset an ISO string ends with ('Z', '-08:00'...): cheap per row."""
    return f"CASE WHEN right({expr}, 1) = 'Z' THEN 'Z' ELSE right({expr}, 6) END"


def newest_of(created: str, updated: str) -> str:
    """The later of two ISO strings as timestamptz (malformed ones ignored)."""
    return f"greatest({cast(created)}, {cast(updated)})"


def candidates(table: str, where: str = "") -> str:
    """Within one UTC offset ISO strings sort as text: the text maximum per offset pair is
    the only row of that offset that can be the newest, so only those few are cast. The
    keys are read once per row (OFFSET 0 keeps the subquery), and the planner, seeing no
    statistics for its columns, hashes a few groups instead of sorting every row. A
    malformed string that sorts above the valid ones of its offset hides that offset's
    newest (mem0 writes isoformat(): not in practice)."""
    return (f"SELECT {offset('c')} AS oc, {offset('u')} AS ou, max(c) AS c, max(u) AS u "
            f"FROM (SELECT payload->>'created_at' AS c, payload->>'updated_at' AS u "
            f"FROM {table}{where} OFFSET 0) r GROUP BY 1, 2")


def full_pass(table: str, where: str = "") -> str:
    """The newest over every row (or those `where` selects), as epoch seconds, with the
    snapshot's xmin."""
    return (f"SELECT extract(epoch FROM max({newest_of('c', 'u')})), {SNAPSHOT_XMIN} "
            f"FROM ({candidates(table, where)}) g")


@dataclass(frozen=True)
class Known:
    """The newest as of one pass: for which table file and deletes, and the pass's
    snapshot xmin (rows written at or after it are the next pass's to read)."""

    table: tuple[int, int, int]  # oid, relfilenode, n_tup_del
    newest: float | None
    horizon: int  # 32-bit xid
    full_at: float  # monotonic time of the last full pass


class NewestTracker:
    """The newest memory's time across scrapes (see the module's docstring)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.known: Known | None = None
        self.full_passes = 0

    def horizon(self, cur: psycopg.Cursor[Any], key: tuple[int, int, int]) -> int:
        """The xid from which this scrape's GROUP BY pass must read rows' timestamps; runs
        the full pass first when what is known no longer holds."""
        k = self.known
        now = time.monotonic()
        if k is None or k.table != key or now - k.full_at > FULL_PASS_SECONDS:
            cur.execute(full_pass(self.table))
            row = cur.fetchone()
            newest = None if row is None or row[0] is None else float(row[0])
            horizon = int(row[1]) % XID_SPACE if row else 0
            self.known = k = Known(key, newest, horizon, now)
            self.full_passes += 1
        return k.horizon

    def update(self, key: tuple[int, int, int], recent: float | None, horizon: int) -> None:
        """Fold in the newest of the rows written since the last pass, and its snapshot."""
        k = self.known
        assert k is not None and k.table == key  # horizon() ran first in this scrape
        newest = k.newest if recent is None else max(recent, k.newest or recent)
        self.known = Known(key, newest, horizon % XID_SPACE, k.full_at)

    @property
    def newest(self) -> float | None:
        return None if self.known is None else self.known.newest
