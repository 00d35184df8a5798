"""When PostgreSQL's `count: estimate` must count exactly (both PostgreSQL backends).

The planner's estimate (reltuples / relpages x current pages) moves only at ANALYZE, and a
DELETE does not shrink the pages: after `DELETE FROM memories` it keeps the old count. The
cumulative statistics (n_tup_ins, n_tup_del, n_live_tup) move within ~10 s of a commit,
but they lag, pg_stat_reset() and a crash zero them, and a standby keeps none. So they
only decide *when* to run one exact count(*); the value reported is always that count or
the planner's movement since it.

Pure: no database here, so every branch is unit-tested (tests/test_recount.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# A standby's statistics never move (replay does not count rows): there the estimate is
# corrected by an exact count at most this often (and on the first collection).
STANDBY_RECOUNT_SECONDS = 600.0

# why a recount runs (logged): no anchor and the statistics disagree with the planner;
# counters went backwards; the statistics expect another count; a standby's period
RecountReason = Literal["unanchored", "stats_reset", "stats_disagree", "standby"]


@dataclass(frozen=True)
class Reading:
    """What one estimate-mode collection reads, in one query."""

    estimate: float  # E: the planner's estimate now
    live: int  # L: n_live_tup
    inserted: int  # I: n_tup_ins
    deleted: int  # D: n_tup_del
    standby: bool  # pg_is_in_recovery()
    at: float  # time.monotonic() when read


@dataclass(frozen=True)
class Anchor:
    """The statistics at the last exact count (or at start, where they agreed)."""

    exact: float  # X
    inserted: int  # I_A
    deleted: int  # D_A
    estimate: float  # E_A
    at: float


@dataclass(frozen=True)
class Decision:
    """Either `recount` names why one exact count is due, or `value` is the count to
    report and `anchor` the anchor to keep."""

    recount: RecountReason | None
    value: float = 0.0
    anchor: Anchor | None = None


@dataclass(frozen=True)
class RecountPolicy:
    bound: float = 0.02  # recount_bound: the disagreement tolerated, as a ratio
    standby_seconds: float = STANDBY_RECOUNT_SECONDS

    def anchor(self, exact: float, r: Reading) -> Anchor:
        return Anchor(exact, r.inserted, r.deleted, r.estimate, r.at)

    def _off(self, a: float, b: float, *scale: float) -> bool:
        """a and b differ by more than the bound, relative to the largest of them all."""
        return abs(a - b) > self.bound * max(a, b, *scale, 1.0)

    def decide(self, anchor: Anchor | None, r: Reading) -> Decision:
        if r.standby:
            if anchor is None or r.at - anchor.at >= self.standby_seconds:
                return Decision("standby")
            return Decision(None, self.projected(anchor, r), anchor)
        if anchor is None:
            if self._off(r.live, r.estimate):
                return Decision("unanchored")
            # they agree: anchor on the estimate without counting (a 10M-row table is
            # not counted at start)
            return Decision(None, r.estimate, self.anchor(r.estimate, r))
        if r.inserted < anchor.inserted or r.deleted < anchor.deleted:
            return Decision("stats_reset")
        projected = self.projected(anchor, r)
        expected = anchor.exact + (r.inserted - anchor.inserted) - (r.deleted - anchor.deleted)
        # a delete the planner has not seen, or inserts into freed space; also an ANALYZE
        # that corrected the planner after one (its movement then overshoots): recount
        if self._off(expected, projected, anchor.exact):
            return Decision("stats_disagree")
        return Decision(None, projected, anchor)

    @staticmethod
    def projected(anchor: Anchor, r: Reading) -> float:
        """P: the exact count moved by what the planner's estimate moved since."""
        return max(0.0, anchor.exact + (r.estimate - anchor.estimate))
