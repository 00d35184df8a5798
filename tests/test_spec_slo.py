"""The spec's `slos`: shape, defaults, the exact error budget, and every refusal naming its
key and line."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from memwatch.errors import SpecError
from memwatch.spec import load_exporter_spec, parse_spec
from memwatch.spec.slo import CLAUSES, StoreSlo

STORES = """\
stores:
  - {name: mem0, preset: mem0-pgvector, dsn: 'env:X'}
  - {name: backups, preset: files, files: [{name: d, glob: /x}]}
  - {name: notes, preset: sql, backend: sqlite, path: /n.db, table: t}
  - {name: dated, preset: sql, backend: sqlite, path: /n.db, table: t, timestamp: ts}
"""


def slos(text: str) -> str:
    return STORES + textwrap.dedent(text)


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(slos(text), "s.yaml")
    return info.value.problems


def test_slos_parse_with_defaults_and_exact_budgets() -> None:
    spec = parse_spec(slos("""\
        slos:
          - store: mem0
            availability: {objective: 99.9}
            freshness: {objective: 99, lag: 15m}
          - {store: dated, window: 4w, availability: {objective: 99.95}}
        """))
    mem0, dated = spec.slos
    assert mem0.window == 30 * 86400 and dated.window == 28 * 86400
    assert mem0.availability is not None and mem0.freshness is not None
    assert mem0.availability.budget == Decimal("0.001")
    assert mem0.freshness.budget == Decimal("0.01") and mem0.freshness.lag == 900
    assert dated.availability is not None and dated.availability.budget == Decimal("0.0005")
    assert [sli for sli, _ in mem0.targets()] == ["availability", "freshness"]
    assert [sli for sli, _ in dated.targets()] == ["availability"]
    assert parse_spec(STORES).slos == ()


@pytest.mark.parametrize(("days", "factors"), [
    (30, ["14.4", "6", "3", "1"]), (28, ["13.44", "5.6", "2.8", "0.933"]),
    (7, ["3.36", "1.4", "0.7", "0.233"]), (90, ["43.2", "18", "9", "3"])])
def test_burn_rate_factors_scale_with_the_window(days: int, factors: list[str]) -> None:
    got = [str(c.factor(days * 86400)) for tier in ("page", "ticket") for c in CLAUSES[tier]]
    assert got == factors


@pytest.mark.parametrize(("text", "expected"), [
    ("slos: [{store: nope, availability: {objective: 99}}]",
     "s.yaml:6: slos[0].store: no store named 'nope' in the spec"),
    ("slos:\n  - {store: mem0, availability: {objective: 99}}\n"
     "  - {store: mem0, freshness: {objective: 99, lag: 5m}}\n",
     "s.yaml:8: slos[1].store: 'mem0' has an SLO entry already (one entry per store holds "
     "both objectives)"),
    ("slos:\n  - store: backups\n    freshness: {objective: 99, lag: 5m}\n",
     "s.yaml:8: slos[0].freshness: store 'backups' exports no newest memory time (its "
     "preset has no freshness; a sql or mongo store needs `timestamp`)"),
    ("slos: [{store: notes, freshness: {objective: 99, lag: 5m}}]",
     "s.yaml:6: slos[0].freshness: store 'notes' exports no newest memory time (its preset "
     "has no freshness; a sql or mongo store needs `timestamp`)"),
    ("slos: [{store: mem0}]", "s.yaml:6: slos[0]: give availability, freshness or both"),
    ("slos: [{store: mem0, window: 5d, availability: {objective: 99}}]",
     "s.yaml:6: slos[0].window: from 7d to 90d, not 5d"),
    ("slos: [{store: mem0, window: 100d, availability: {objective: 99}}]",
     "s.yaml:6: slos[0].window: from 7d to 90d, not 100d"),
    ("slos: [{store: mem0, window: 1000000, availability: {objective: 99}}]",
     "s.yaml:6: slos[0].window: whole days (e.g. 30d)"),
    ("slos: [{store: mem0, window: 30d12h, availability: {objective: 99}}]",
     "s.yaml:6: slos[0].window: '30d12h' is not a window in days (e.g. 28d, 30d, 4w)"),
    ("slos:\n  - store: mem0\n    window: 90d\n    availability: {objective: 90}\n",
     "s.yaml:9: slos[0].availability.objective: with a 90d window the page tier would need "
     "more than 100% errors; set an objective above 94.44 (or a shorter window)"),
])
def test_refusals_name_the_key_and_line(text: str, expected: str) -> None:
    assert problems(text) == [expected]


@pytest.mark.parametrize("text", [
    "slos: [{store: mem0, availability: {objective: 100}}]",
    "slos: [{store: mem0, availability: {objective: 0}}]",
    "slos: [{store: mem0, availability: {objective: .nan}}]",
    "slos: [{store: mem0, freshness: {objective: 99, lag: 30s}}]",
    "slos: [{store: mem0, freshness: {objective: 99}}]",
    "slos: [{store: mem0, availability: {objective: 99, lag: 5m}}]",
    "slos: [{store: mem0, availabilty: {objective: 99}}]",
])
def test_out_of_range_and_unknown_keys_are_refused(text: str) -> None:
    found = problems(text)
    assert len(found) == 1 and found[0].startswith("s.yaml:6: slos[0]."), found


def test_a_misspelt_key_gets_a_suggestion() -> None:
    assert problems("slos: [{store: mem0, availabilty: {objective: 99}}]") == [
        "s.yaml:6: slos[0].availabilty: unknown key; did you mean `availability`?"]


def test_the_lowest_objective_that_pages_is_accepted() -> None:
    # 30d: the slow page's 6x needs a budget below 1/6
    ok = StoreSlo.model_validate({"store": "a", "availability": {"objective": 83.34}})
    assert ok.availability is not None
    with pytest.raises(ValueError, match=r"set an objective above 83\.33 "):
        StoreSlo.model_validate({"store": "a", "availability": {"objective": 83.33}})


def test_the_exporter_never_reads_slos(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(slos("slos: [{store: nope, availability: {objective: 200}}]\n"))
    assert [s.name for s in load_exporter_spec(path).stores][:1] == ["mem0"]
