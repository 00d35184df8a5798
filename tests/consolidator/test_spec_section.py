"""The spec's consolidator section: defaults, durations, storage checks."""

from __future__ import annotations

import pytest

from memwatch.errors import SpecError
from memwatch.spec import parse_spec

STORES = "stores:\n  - {name: s, preset: files, files: [{name: b, glob: /tmp/x}]}\n"


def test_defaults_keep_existing_specs_valid() -> None:
    c = parse_spec(STORES).consolidator
    assert c.listen == "127.0.0.1:9188"
    assert c.storage.backend == "sqlite"
    assert c.storage.path == "./memwatch-consolidator.sqlite"
    assert c.max_body_bytes == 1024 * 1024
    assert (c.retention_days, c.snapshot_interval) == (90, 3600.0)
    assert (c.consolidation_hour_utc, c.pattern_min_days, c.pattern_labels) == (1, 3, ())


def test_values_and_durations() -> None:
    c = parse_spec(STORES + "consolidator:\n  snapshot_interval: 30m\n  pattern_labels: [env]\n"
                   "  storage: {backend: postgresql, dsn: 'env:PG'}\n").consolidator
    assert c.snapshot_interval == 1800.0
    assert c.pattern_labels == ("env",)
    assert c.storage.dsn == "env:PG"
    m = parse_spec(STORES + "consolidator:\n  storage: {backend: mongodb, dsn: 'env:MONGO', "
                   "database: history}\n").consolidator.storage
    assert (m.backend, m.dsn, m.database) == ("mongodb", "env:MONGO", "history")


@pytest.mark.parametrize(("body", "needle"), [
    ("  storage: {backend: postgresql}\n", "exactly one of dsn or dsn_file"),
    ("  storage: {backend: sqlite, dsn: x}\n", "takes path"),
    ("  storage: {backend: mongodb}\n", "exactly one of dsn or dsn_file"),
    ("  storage: {backend: postgresql, dsn: x, database: d}\n", "database is for backend"),
    ("  storage: {backend: mongodb, dsn: x, database: 'a.b'}\n", "storage.database"),
    ("  consolidation_hour_utc: 24\n", "consolidator.consolidation_hour_utc"),
    ("  nope: 1\n", "consolidator.nope: unknown key"),
])
def test_invalid_section_names_key(body: str, needle: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(STORES + "consolidator:\n" + body)
    assert needle in "\n".join(err.value.problems)
