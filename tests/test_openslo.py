"""OpenSLO v1 SLO documents read as the spec's `slos`: the mapping, the round trip through
the printed section, and the refusals naming the document and its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from memwatch import openslo
from memwatch.errors import SpecError
from memwatch.spec import parse_spec

SLI = """\
apiVersion: openslo/v1
kind: SLI
metadata:
  name: mem0-up
spec:
  thresholdMetric:
    metricSource:
      type: Prometheus
      spec:
        query: memwatch_up{store="mem0"}
"""
AVAILABILITY = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: mem0-availability
spec:
  service: mem0
  indicatorRef: mem0-up
  timeWindow: [{duration: 4w, isRolling: true}]
  budgetingMethod: Timeslices
  objectives: [{displayName: reachable, target: 0.999}]
"""
FRESHNESS = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: mem0-freshness
spec:
  indicator:
    metadata: {name: mem0-lag}
    spec:
      thresholdMetric:
        metricSource:
          type: Prometheus
          spec:
            query: time() - memwatch_newest_memory_timestamp_seconds{store="mem0"}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{op: lte, value: 900, target: 0.99}]
"""
SERVICE = "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: mem0}\n"
FILE = "---\n".join([SLI, AVAILABILITY, FRESHNESS, SERVICE])
STORES = """\
stores:
  - {name: mem0, preset: mem0-pgvector, dsn: 'env:X'}
  - {name: f, preset: files, files: [{name: d, glob: /x}]}
"""


def test_slo_documents_become_one_entry_per_store() -> None:
    (slo,) = openslo.read(FILE, "o.yaml")
    assert slo.store == "mem0" and slo.window == 28 * 86400
    assert slo.availability is not None and slo.availability.objective == 99.9
    assert slo.freshness is not None
    assert (slo.freshness.objective, slo.freshness.lag) == (99.0, 900.0)
    assert str(slo.availability.budget) == "0.001"


def test_the_printed_section_is_a_spec_s(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(FILE)
    assert openslo.main([str(path)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("slos:\n- store: mem0\n  window: 28d\n")
    assert parse_spec(STORES + printed).slos == openslo.read(FILE, "o.yaml")


def test_apply_adds_to_the_spec_and_checks_the_stores(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(FILE)
    spec = openslo.apply(parse_spec(STORES), path)
    assert [s.store for s in spec.slos] == ["mem0"]
    with pytest.raises(SpecError) as info:
        openslo.apply(parse_spec(STORES.replace("name: mem0", "name: other")), path)
    assert info.value.problems == [
        f"{path}: slos[0].store: no store named 'mem0' in the spec"]
    own = parse_spec(STORES + "slos: [{store: mem0, availability: {objective: 99}}]\n")
    with pytest.raises(SpecError, match="'mem0' has an SLO entry already"):
        openslo.apply(own, path)


@pytest.mark.parametrize(("change", "expected"), [
    (("duration: 28d, isRolling: true", "duration: 1M, isRolling: true"),
     "o.yaml:23: SLO mem0-freshness: timeWindow: one rolling window of whole minutes, hours, "
     "days or weeks (e.g. {duration: 30d, isRolling: true}); calendar windows are not "
     "supported"),
    (("budgetingMethod: Occurrences", "budgetingMethod: RatioTimeslices"),
     "o.yaml:23: SLO mem0-freshness: budgetingMethod: one of Occurrences, Timeslices, not "
     "'RatioTimeslices'"),
    (("{op: lte, value: 900, target: 0.99}", "{target: 0.99}"),
     "o.yaml:23: SLO mem0-freshness: objectives[0]: freshness needs op: lte and value: the "
     "lag in seconds"),
    (("{op: lte, value: 900, target: 0.99}", "{op: lte, value: 10, target: 0.99}"),
     "o.yaml:23: SLO mem0-freshness: Input should be greater than or equal to 60"),
    (("target: 0.999", "target: high"),
     "o.yaml:12: SLO mem0-availability: objectives[0].target: a ratio such as 0.999"),
    (("indicatorRef: mem0-up", "indicatorRef: nope"),
     "o.yaml:12: SLO mem0-availability: no indicator (inline, or an SLI document named "
     "'nope')"),
    (('memwatch_up{store="mem0"}', 'up{job="mem0"}'),
     "o.yaml:12: SLO mem0-availability: the indicator must be a thresholdMetric whose "
     "Prometheus query reads memwatch_up or memwatch_newest_memory_timestamp_seconds with "
     'a store="..." matcher'),
    (("duration: 4w", "duration: 30d"),
     "o.yaml:23: SLO mem0-freshness: store 'mem0': one freshness objective per store, and "
     "one window for both of its objectives"),
])
def test_refusals_name_the_document_and_its_line(change: tuple[str, str],
                                                 expected: str) -> None:
    with pytest.raises(SpecError) as info:
        openslo.read(FILE.replace(*change), "o.yaml")
    assert info.value.problems == [expected]


def test_a_yaml_error_names_its_line() -> None:
    broken = FILE.replace("budgetingMethod: Occurrences", "budgetingMethod: [")
    with pytest.raises(SpecError) as info:
        openslo.read(broken, "o.yaml")
    # where PyYAML notices it, as for the spec itself: the line after the open bracket's
    assert info.value.problems == ["o.yaml:39: not valid YAML: did not find expected ',' or "
                                   "']'"]


def test_a_single_document_and_other_api_versions() -> None:
    assert openslo.read(textwrap.dedent(SLI) + "---\n" + AVAILABILITY, "o.yaml")[0].window \
        == 28 * 86400
    assert openslo.read(AVAILABILITY.replace("openslo/v1", "openslo/v2alpha"), "o.yaml") == ()
