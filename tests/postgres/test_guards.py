"""The regex guards the PostgreSQL queries put in front of a cast (so one bad row yields NULL
instead of failing the scrape), checked against the server itself: PostgreSQL 16's
pg_input_is_valid() says whether the cast would succeed. Whatever passes a guard must cast."""

from __future__ import annotations

import itertools

import pytest

from memwatch.backends import sqlbuild
from tests.postgres.cluster import PgCluster

YEARS = ["2026", "2024", "2000", "1900", "2100", "1600", "9999", "1004", "0000", "0999"]
MONTHS = ["00", "01", "02", "04", "06", "09", "11", "12", "13"]
DAYS = ["00", "01", "28", "29", "30", "31", "32"]
TIMES = ["00:00", "23:59", "24:00", "25:61", "12:60", "12:30:59", "12:30:60", "12:30:61",
         "12:30:00.1234567", "09:15:02.123456", "9:15", "12:30:5"]
ZONES = ["", "Z", "+00", "-08:00", "+0530", "+05:30", "+14:00", "+15:00", "+15:59",
         "+16:00", "-12", "+05:30:00", "+053000", "+05:3000", " +05:30", " UTC", "UTC",
         " GMT", " Z", "garbage", " (approx)", "\n", "+05:30junk"]
OTHER = ["", "not a date", "yesterday", "2026-11-20", "2026-11-20T", "20261120T091502",
         "2026-11-20t09:15z", "\uff12\uff10\uff12\uff16-11-20T09:15:02Z",
         "2026-11-20T09:15:02.123456-08:00"]
# what the stores actually write must pass (not be silently ignored)
WRITTEN = [
    "2026-11-20T09:15:02.123456-08:00",  # mem0 (Python isoformat, US/Pacific)
    "2026-11-20T07:03:41.000Z",  # openclaw-mem capture (JavaScript)
    "2026-11-20T07:03:41.250000+00:00",  # Python, UTC
    "2026-11-20T07:03:41",  # naive
    "2026-11-20 17:15:02.123456+00",  # a timestamptz column as text, TimeZone=UTC
    "2026-11-20 17:15:02+05:30",
    "2024-02-29T00:00:00Z",
    "2000-02-29 23:59:59.999999+14",
]


def candidates() -> list[str]:
    out = {f"{y}-{m}-{d}T10:00:00Z" for y, m, d in itertools.product(YEARS, MONTHS, DAYS)}
    out |= {f"2026-11-20{sep}{t}{z}" for sep, t, z in itertools.product("T ", TIMES, ZONES)}
    return sorted(out | set(OTHER) | set(WRITTEN))


def test_iso_guard_implies_a_valid_timestamptz(pg: PgCluster) -> None:
    cands = candidates()
    rows = pg.execute(
        "SELECT s, s ~ %s, pg_input_is_valid(s, 'timestamptz') FROM unnest(%s::text[]) s",
        (sqlbuild.PG_ISO_GUARD, cands))
    assert len(rows) == len(cands) > 1000
    passes_but_fails_cast = [s for s, guarded, valid in rows if guarded and not valid]
    assert passes_but_fails_cast == []
    passed = {s for s, guarded, _ in rows if guarded}
    assert set(WRITTEN) <= passed
    assert len(passed) > 300  # not a guard that refuses everything


@pytest.mark.parametrize("text", ["50", "-7", "9.5", "1e3", "1.5E-7", "00012",
                                  "1e999", "5e", "abc", "", "1.", ".5", "1e1000", "NaN",
                                  "Infinity", "0x10", "1_000", " 5"])
def test_number_guard_implies_a_valid_numeric(pg: PgCluster, text: str) -> None:
    guarded, valid = pg.execute("SELECT %s ~ %s, pg_input_is_valid(%s, 'numeric')",
                                (text, sqlbuild._PG_NUMBER, text))[0]
    assert not (guarded and not valid)
    if text in ("50", "-7", "9.5", "1e3", "1.5E-7", "1e999"):
        assert guarded
    if text in ("NaN", "Infinity", "1e1000", "abc", ""):
        assert not guarded
