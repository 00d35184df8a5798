"""A malformed PostgreSQL DSN: a `config` error that says what is wrong and never quotes
the DSN (libpq's own message quoted the password: `unexpected spaces found in "S3cret
PW"`), at `spec check` when the DSN is in the spec, on the scrape when it comes from the
environment (issue 12, the command line)."""

from __future__ import annotations

import logging

import pytest

from memwatch.dsn import dsn_problem
from tests.helpers import Scrape, exporter_for

SECRET = "S3cret PW"
MALFORMED = [
    (f"postgresql://u:{SECRET}@127.0.0.1:5432/db", "holds spaces"),
    (f"host=127.0.0.1 password={SECRET}", "a key without '='"),
    (f"postgresql://u:{SECRET.replace(' ', '')}@127.0.0.1:notaport/db", "the port"),
    (f"postgresql://u:{SECRET.replace(' ', '%zz')}@127.0.0.1/db", "%-escape"),
]


@pytest.mark.parametrize(("dsn", "words"), MALFORMED)
def test_what_is_malformed_without_the_dsn(dsn: str, words: str) -> None:
    problem = dsn_problem(dsn)
    assert problem is not None and words in problem
    assert "S3cret" not in problem


def test_well_formed_dsns_pass() -> None:
    for dsn in ("postgresql://u:p%20w@127.0.0.1:5432/db", "host=a port=5432,5433 dbname=x",
                "host=a password='S3cret PW'"):
        assert dsn_problem(dsn) is None, dsn


@pytest.mark.parametrize(("dsn", "words"), MALFORMED)
def test_a_dsn_from_the_environment_is_a_config_error_that_hides_it(
        dsn: str, words: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MW_TEST_DSN", dsn)
    spec = ("stores:\n  - name: m\n    preset: mem0-pgvector\n    dsn: env:MW_TEST_DSN\n"
            "    integrity_interval: 0s\n")
    with caplog.at_level(logging.WARNING), exporter_for(spec) as exp:
        got = Scrape(exp)
    assert got("memwatch_up", store="m", backend="postgresql") == 0
    assert got("memwatch_collection_errors_total", store="m", reason="config") == 1
    assert got("memwatch_collection_errors_total", store="m", reason="query") == 0
    logged = " ".join(f"{r.getMessage()} {r.__dict__.get('error', '')}"
                      for r in caplog.records)
    assert words in logged
    assert "S3cret" not in logged


def test_an_inline_dsn_is_checked_at_its_line_without_echoing_it() -> None:
    from memwatch.errors import SpecError
    from memwatch.spec import parse_spec

    for preset in ("preset: mem0-pgvector", "preset: sql\n    backend: postgresql\n"
                                            "    table: t"):
        text = (f"stores:\n  - name: m\n    {preset}\n"
                f"    dsn: 'postgresql://u:{SECRET}@127.0.0.1/db'\n")
        with pytest.raises(SpecError) as err:
            parse_spec(text, "s.yaml")
        line = text.splitlines().index(f"    dsn: 'postgresql://u:{SECRET}@127.0.0.1/db'") + 1
        assert err.value.problems == [
            f"s.yaml:{line}: stores[0].dsn: malformed: a value holds spaces: percent-encode "
            "them (%20) in a URI, or quote the value in key=value form"]
