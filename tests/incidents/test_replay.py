"""The replay harness itself: promtool's report read right, the timeline encoded as it
claims (checked by promtool), Alertmanager's inhibitions applied, the doc's table whole."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from memwatch.catalogue import BY_NAME
from tests.incidents.replay import (
    INCIDENT_MINUTE,
    Phase,
    Rules,
    Snapshot,
    input_series,
    minutes,
    parse_report,
    promtool,
    replay,
    timeline,
)
from tests.incidents.verdict import NOT_CAUGHT, table

# promtool 2.42's report of failed `ALERTS{alertstate="firing"}` checks (its lines as it
# prints them; the second from a label value holding a quote, a comma and braces)
REPORT = r'''Unit Testing:  incident.yml
  FAILED:
    expr: "ALERTS{alertstate=\"firing\"}", time: 6m,
        exp: nil
        got: {__name__="ALERTS", alertname="A", alertstate="firing", instance="i", job="j", severity="warning", store="s"} 1E+00, {__name__="ALERTS", alertname="B", alertstate="firing", instance="i", job="j", severity="critical", store="s"} 1E+00
    expr: "ALERTS{alertstate=\"firing\"}", time: 1h12m,
        exp: nil
        got: {__name__="ALERTS", alertname="MemoryNamespaceLost", alertstate="firing", namespace="o\"brien, {x}", store="s"} 1E+00

'''  # noqa: E501
SPEC = "stores:\n  - {name: s, preset: mem0-history, path: /nowhere/history.db}\n" \
       "  - {name: t, preset: mem0-history, path: /nowhere/other.db}\n"


def labels(**kv: str) -> frozenset[tuple[str, str]]:
    return frozenset(kv.items())


def test_report_is_read_per_minute() -> None:
    got = parse_report(REPORT)
    assert got == {
        6: frozenset({("A", labels(instance="i", job="j", severity="warning", store="s")),
                      ("B", labels(instance="i", job="j", severity="critical", store="s"))}),
        72: frozenset({("MemoryNamespaceLost", labels(namespace='o"brien, {x}', store="s"))}),
    }


@pytest.mark.parametrize("line", ["  FAILED:\n    1:1: parse error: unexpected",
                                  "  could not load rules/alerts.yml"])
def test_any_other_report_is_an_error_not_silence(line: str) -> None:
    with pytest.raises(AssertionError, match="unexpected promtool output"):
        parse_report(f"Unit Testing:  x.yml\n{line}\n")


def test_durations() -> None:
    assert [minutes(d) for d in ("0s", "7m", "1h10m", "1d1h")] == [0, 7, 70, 1500]
    with pytest.raises(AssertionError):
        minutes("90s")


def snap(at: float, **values: float) -> Snapshot:
    return Snapshot({(k, labels(store="s")): v for k, v in values.items()}, at)


def test_timeline_means_what_it_says(tmp_path: Path) -> None:
    """Checked by promtool: values hold per phase (a one-minute phase too), a series that
    leaves is stale at once (no 5-minute lookback), a flowing timestamp keeps its age, a
    frozen one ages from its phase's start."""
    before = snap(1000.0, g=5, memwatch_newest_memory_timestamp_seconds=970.0)
    mid = snap(2000.5, g=7, memwatch_newest_memory_timestamp_seconds=1940.5)
    after = snap(3000.0, memwatch_newest_memory_timestamp_seconds=2900.0)
    series = input_series(timeline(before, mid, after, frozen=["s"], at=3), 6)
    exp = {0: 5.0, 2: 5.0, 3: 7.0, 4: None, 6: None}
    # 30 s old before; 60 s at the scrape of minute 3; 100 s at minute 4, then growing
    age = {0: 30.0, 2: 30.0, 3: 60.0, 4: 100.0, 6: 220.0}
    tests = [{"expr": "g", "eval_time": f"{m}m",
              "exp_samples": [] if v is None else [{"labels": 'g{instance="memwatch:9187",'
                                                    'job="memwatch",store="s"}', "value": v}]}
             for m, v in exp.items()]
    tests += [{"expr": "time() - memwatch_newest_memory_timestamp_seconds",
               "eval_time": f"{m}m", "exp_samples": [
                   {"labels": '{instance="memwatch:9187",job="memwatch",store="s"}',
                    "value": v}]} for m, v in age.items()]
    (tmp_path / "t.yml").write_text(yaml.safe_dump({"tests": [
        {"interval": "1m", "input_series": series, "promql_expr_test": tests}]}))
    proc = subprocess.run([promtool(), "test", "rules", "t.yml"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_replay_finds_what_fires_and_when(tmp_path: Path) -> None:
    """Synthetic scrapes of a history store emptied at the incident: MemoryCountZero
    fires after its `for`, only for that store, and nothing fires before."""
    full = Snapshot({("memwatch_store_memories", labels(store="s")): 100,
                     ("memwatch_store_memories", labels(store="t")): 100}, 0)
    empty = Snapshot({**full.data, ("memwatch_store_memories", labels(store="s")): 0}, 0)
    got = replay(Rules.render(SPEC, tmp_path), [Phase(0, full), Phase(INCIDENT_MINUTE,
                                                                      empty)], after=8)
    assert got.before() == set()
    assert got.first("MemoryCountZero", store="s") == 2
    assert got.first("MemoryCountZero", store="t") is None
    assert got.names("s") == {"MemoryCountZero", "MemoryCountDropped"}
    assert got.first("MemoryCountDropped") == 5


def test_inhibitions_are_alertmanagers(tmp_path: Path) -> None:
    rules = Rules.render(SPEC, tmp_path)
    zero = ("MemoryCountZero", labels(store="s", severity="critical"))
    lost_s = ("MemoryNamespaceLost", labels(store="s", namespace="a", severity="warning"))
    lost_t = ("MemoryNamespaceLost", labels(store="t", namespace="a", severity="warning"))
    down = ("MemoryDatabaseDown", labels(store="s", severity="critical"))
    assert rules.pages({zero, lost_s, lost_t}) == {zero, lost_t}
    assert rules.pages({down, zero}) == {down}
    assert rules.pages({lost_s}) == {lost_s}


def test_the_doc_table_and_the_tests_agree() -> None:
    """Every row of docs/incidents.md has a replay that checks it, every replay a row;
    every alert named is one memwatch renders."""
    here = Path(__file__).parent
    checked = {n for f in here.glob("test_*.py")
               for n in re.findall(r'documented\("(\d+)"', f.read_text())}
    rows = table()
    assert {n for n, _ in rows} == checked
    for (n, alert), (fires, pages) in rows.items():
        if alert == "—":
            assert (fires, pages) == (NOT_CAUGHT, "no"), n
        else:
            assert alert in BY_NAME, alert
            assert re.fullmatch(r"\d+ min", fires) and pages in ("yes", "no"), (n, alert)
