"""docs/metrics.md documents every metric of the contract, with its type and labels."""

from __future__ import annotations

import re
from pathlib import Path

from memwatch.metrics import CONTRACT

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def test_every_metric_documented_with_type_and_labels() -> None:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"^\| `([a-z_]+)` \| (\w+) \|([a-z_, ]*)\|", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3).strip())
    for metric in CONTRACT:
        assert metric.series_name in rows, f"{metric.series_name} missing from docs/metrics.md"
        assert rows[metric.series_name] == (metric.type, ", ".join(metric.labels)), \
            metric.series_name
    assert set(rows) == {m.series_name for m in CONTRACT}, "documented but not exported"


def test_every_alert_has_a_runbook_section() -> None:
    from memwatch.catalogue import ALERT_NAMES
    ops = (DOC.parent / "operations.md").read_text()
    headings = set(re.findall(r"^### (\w+)$", ops, re.M))
    assert set(ALERT_NAMES) <= headings, set(ALERT_NAMES) - headings
