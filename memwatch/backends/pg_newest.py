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

The test is `xidsend(xmin) >= <the horizon's 4 bytes>`: an unsigned comparison of the
32-bit ids, parallel safe (`age()` is not, and would keep the pass in one process). It
holds within one xid epoch; a pass whose snapshot is in a later epoch than the horizon
may have missed rows written after the wraparound, so a full pass follows at once. Rows
frozen an epoch ago whose raw xmin is above the horizon pass the test too: harmless (an
old row's time never raises the newest), only read again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from memwatch.backends.sqlbuild import PG_ISO_GUARD

# A full pass at least this often: a standby's statistics never move, so a delete replayed
# there is only noticed here.
FULL_PASS_SECONDS = 3600.0
RETRY_SECONDS = 600.0  # after a full pass that did not finish within its share
log = logging.getLogger("memwatch.backends.pg_newest")
XID_SPACE = 2**32
# the snapshot's xmin (64-bit, epoch included) at the statement that reads it
SNAPSHOT_XMIN = "txid_snapshot_xmin(txid_current_snapshot())"
# rows written at or after a horizon (its 32-bit id, 4 big-endian bytes, is the parameter)
WRITTEN_SINCE = "xidsend(xmin) >= %s"


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


def tail_pass(table: str, first_page: int) -> tuple[str, tuple[str]]:
    """full_pass() over the table's pages from `first_page` on (a TID range scan): where
    new rows and new versions of updated ones land, unless free space earlier took them."""
    return full_pass(table, " WHERE ctid >= %s::tid"), (f"({first_page},0)",)


@dataclass(frozen=True)
class Known:
    """The newest as of one pass: for which table file and deletes, and the pass's
    snapshot xmin (rows written at or after it are the next pass's to read)."""

    table: tuple[int, int, int]  # oid, relfilenode, n_tup_del
    newest: float | None
    horizon: int  # 64-bit xid (epoch included)
    full_at: float  # monotonic time of the last full pass
    partial: bool = False  # from the table's last pages: a full pass did not finish


# runs a statement's fetch within its share of the timeout; None when it did not finish
Bounded = Callable[[Callable[[], Any]], Any]


class NewestTracker:
    """The newest memory's time across scrapes (see the module's docstring)."""

    def __init__(self, table: str, name: str = "") -> None:
        self.table = table
        self.name = name
        self.known: Known | None = None
        self.full_passes = 0
        self.retry_at = 0.0  # monotonic: no full pass before (the last did not finish)

    def horizon(self, cur: psycopg.Cursor[Any], key: tuple[int, int, int],
                bounded: Bounded, tail_page: int) -> int:
        """The xid from which this scrape's GROUP BY pass must read rows' timestamps; runs
        the full pass first when what is known no longer holds. The full pass runs within
        its share of the store's timeout (`bounded`); when it does not finish, the table's
        pages from `tail_page` on (where new rows land) stand in until a retry succeeds."""
        k = self.known
        now = time.monotonic()
        stale = k is None or k.table != key or k.partial or now - k.full_at > FULL_PASS_SECONDS
        if not stale:
            assert k is not None
            return k.horizon
        if now >= self.retry_at:
            row = bounded(lambda: _fetch(cur, full_pass(self.table)))
            if row is not None:
                self.full_passes += 1
                self.known = Known(key, *_newest_and_horizon(row), now)
                return self.known.horizon
            self.retry_at = now + RETRY_SECONDS
            log.warning("the newest memory's full pass did not finish within its share of "
                        "the timeout: the table's last pages stand in, next try in "
                        f"{RETRY_SECONDS:.0f} s", extra={"store": self.name})
        if k is None or k.table != key or not k.partial:
            row = _fetch(cur, *tail_pass(self.table, tail_page))
            self.known = Known(key, *_newest_and_horizon(row), now, partial=True)
        assert self.known is not None
        return self.known.horizon

    def update(self, key: tuple[int, int, int], recent: float | None, horizon: int) -> bool:
        """Fold in the newest of the rows written since the last pass, and its snapshot.
        False (nothing folded, what was known forgotten) when the pass's snapshot is in a
        later xid epoch than the horizon: the caller runs horizon() again, a full pass."""
        k = self.known
        assert k is not None and k.table == key  # horizon() ran first in this scrape
        if horizon >> 32 != k.horizon >> 32:
            self.known = None
            return False
        newest = k.newest if recent is None else max(recent, k.newest or recent)
        self.known = Known(key, newest, horizon, k.full_at, k.partial)
        return True

    @property
    def newest(self) -> float | None:
        return None if self.known is None else self.known.newest


def _fetch(cur: psycopg.Cursor[Any], sql: str, params: Any = None) -> Any:
    cur.execute(sql, params)
    return cur.fetchone()


def _newest_and_horizon(row: Any) -> tuple[float | None, int]:
    return (None if row is None or row[0] is None else float(row[0]),
            int(row[1]) if row else 0)


def since_bytes(horizon: int) -> bytes:
    """WRITTEN_SINCE's parameter: the horizon's 32-bit id as xidsend() writes it."""
    return (horizon % XID_SPACE).to_bytes(4, "big")
