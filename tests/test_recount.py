"""RecountPolicy.decide: when estimate mode counts exactly, without a database (the
PostgreSQL tests in tests/postgres/test_estimate_recount.py run it against a real one)."""

from __future__ import annotations

import pytest

from memwatch.backends.recount import (
    STANDBY_RECOUNT_SECONDS,
    Anchor,
    Decision,
    Reading,
    RecountPolicy,
)
from memwatch.errors import SpecError
from memwatch.spec import Mem0PgvectorStore, SqlStore, parse_spec

POLICY = RecountPolicy(0.02)


def reading(estimate: float, live: int = 0, inserted: int = 0, deleted: int = 0,
            standby: bool = False, at: float = 1000.0) -> Reading:
    return Reading(estimate, live, inserted, deleted, standby, at)


# an exact count of 1,000,000 taken when the planner said 1,000,000
ANCHOR = Anchor(exact=1_000_000, inserted=5_000_000, deleted=4_000_000, estimate=1_000_000,
                at=1000.0)


def test_start_with_agreeing_statistics_anchors_without_counting() -> None:
    r = reading(10_000_000, live=10_100_000, inserted=10_100_000)  # 1% apart
    d = POLICY.decide(None, r)
    assert d == Decision(None, 10_000_000, Anchor(10_000_000, 10_100_000, 0, 10_000_000,
                                                  1000.0))


@pytest.mark.parametrize("live", [0, 9_700_000, 10_300_000])
def test_start_with_disagreeing_statistics_counts(live: int) -> None:
    assert POLICY.decide(None, reading(10_000_000, live=live)).recount == "unanchored"


def test_start_on_an_empty_table() -> None:
    d = POLICY.decide(None, reading(0, live=0))
    assert (d.recount, d.value) == (None, 0)
    # a small table is counted at the smallest disagreement (max(E, L, 1)): it is cheap
    assert POLICY.decide(None, reading(0, live=1)).recount == "unanchored"
    assert POLICY.decide(None, reading(49, live=50)).recount is None


def test_nothing_changed_reports_the_exact_count() -> None:
    d = POLICY.decide(ANCHOR, reading(1_000_000, live=1, inserted=5_000_000,
                                      deleted=4_000_000))
    # n_live_tup (1 here) is never the value
    assert d == Decision(None, 1_000_000, ANCHOR)


def test_planner_movement_is_reported_when_the_statistics_agree() -> None:
    # 10% inserted without ANALYZE: pages grew, the estimate followed, the stats agree
    d = POLICY.decide(ANCHOR, reading(1_099_000, inserted=5_100_000, deleted=4_000_000))
    assert d == Decision(None, 1_099_000, ANCHOR)


@pytest.mark.parametrize(("estimate", "inserted", "deleted"), [
    (1_000_000, 5_000_000, 5_000_000),  # every row deleted, the planner blind
    (1_000_000, 5_000_000, 4_100_000),  # 10% deleted (one user)
    (1_000_000, 5_030_000, 4_000_000),  # 3% inserted into free space: pages did not grow
])
def test_disagreement_beyond_the_bound_recounts(estimate: float, inserted: int,
                                                deleted: int) -> None:
    d = POLICY.decide(ANCHOR, reading(estimate, inserted=inserted, deleted=deleted))
    assert d.recount == "stats_disagree"


def test_planner_and_statistics_moving_together_do_not_recount() -> None:
    # 99% deleted and an ANALYZE saw it before any scrape: both say 10,000
    d = POLICY.decide(ANCHOR, reading(10_000, inserted=5_000_000, deleted=4_990_000))
    assert d == Decision(None, 10_000, ANCHOR)
    # 10% deleted, then as many inserted into the freed space: the count did not move
    d = POLICY.decide(ANCHOR, reading(1_000_000, inserted=5_100_000, deleted=4_100_000))
    assert d == Decision(None, 1_000_000, ANCHOR)


def test_disagreement_within_the_bound_does_not() -> None:
    d = POLICY.decide(ANCHOR, reading(1_000_000, inserted=5_000_000, deleted=4_019_000))
    assert d == Decision(None, 1_000_000, ANCHOR)  # 1.9% off: within recount_bound
    tight = RecountPolicy(0.01)
    assert tight.decide(ANCHOR, reading(1_000_000, inserted=5_000_000,
                                        deleted=4_019_000)).recount == "stats_disagree"


@pytest.mark.parametrize(("inserted", "deleted"), [(0, 0), (4_999_999, 4_000_000),
                                                   (5_000_000, 3_999_999)])
def test_counters_going_backwards_recount(inserted: int, deleted: int) -> None:
    """pg_stat_reset(), a crash: counters restart at 0."""
    d = POLICY.decide(ANCHOR, reading(1_000_000, inserted=inserted, deleted=deleted))
    assert d.recount == "stats_reset"


def test_after_a_recount_the_new_anchor_is_quiet() -> None:
    r = reading(1_000_000, live=0, inserted=0, deleted=0, at=2000.0)
    anchor = POLICY.anchor(1_000_000, r)
    assert POLICY.decide(anchor, r) == Decision(None, 1_000_000, anchor)


def test_projection_never_goes_below_zero() -> None:
    """An exact 100 anchored while the planner still said 40,000; VACUUM then shrinks
    the table: the planner's drop overshoots (and disagrees, so it is recounted)."""
    anchor = Anchor(100, 40_000, 39_900, 40_000, 0.0)
    assert RecountPolicy.projected(anchor, reading(0)) == 0
    assert POLICY.decide(anchor, reading(0, inserted=40_000, deleted=39_900)).recount == \
        "stats_disagree"


def test_standby_counts_first_then_every_ten_minutes() -> None:
    """A standby's statistics never move: they decide nothing there."""
    assert STANDBY_RECOUNT_SECONDS == 600
    assert POLICY.decide(None, reading(1_000_000, live=1_000_000, standby=True)).recount == \
        "standby"
    anchor = Anchor(1_000_000, 0, 0, 1_000_000, 1000.0)
    soon = reading(1_050_000, live=0, standby=True, at=1000.0 + 599)
    assert POLICY.decide(anchor, soon) == Decision(None, 1_050_000, anchor)
    # counters that look reset or far off are ignored on a standby
    odd = reading(1_000_000, live=5, inserted=0, deleted=99, standby=True, at=1500.0)
    assert POLICY.decide(anchor, odd).recount is None
    later = reading(1_000_000, standby=True, at=1000.0 + 600)
    assert POLICY.decide(anchor, later).recount == "standby"


@pytest.mark.parametrize("bad", ["0", "1", "-0.1", "2%"])
def test_recount_bound_must_be_a_ratio(bad: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(f"stores:\n  - {{name: m, preset: mem0-pgvector, dsn: x, count: estimate,"
                   f"\n     recount_bound: {bad}}}\n", "s.yaml")
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("s.yaml:3: stores[0].recount_bound")


def test_recount_bound_default_and_no_effect_where_nothing_is_estimated() -> None:
    spec = parse_spec(
        "stores:\n"
        "  - {name: m, preset: mem0-pgvector, dsn: 'host=x'}\n"
        "  - {name: s, preset: sql, backend: postgresql, dsn: 'host=x', table: t,"
        " count: estimate, recount_bound: 0.005}\n"
        "  - {name: q, preset: sql, backend: sqlite, path: /tmp/x.db, table: t,"
        " recount_bound: 0.1}\n", "s.yaml")
    m, s, q = spec.stores
    assert isinstance(m, Mem0PgvectorStore)
    assert isinstance(s, SqlStore) and isinstance(q, SqlStore)
    assert (m.recount_bound, s.recount_bound, q.recount_bound) == (0.02, 0.005, 0.1)
