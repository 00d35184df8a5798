"""The spec: validation errors name the key path and the line; defaults; secrets."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from memwatch.errors import SecretError, SpecError
from memwatch.secrets import redact, resolve
from memwatch.spec import json_schema, load_spec, parse_spec
from memwatch.spec.types import parse_duration

ROOT = Path(__file__).resolve().parents[1]


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(textwrap.dedent(text), "s.yaml")
    return info.value.problems


def test_example_spec_is_valid() -> None:
    spec = load_spec(ROOT / "examples" / "monitoring.yaml")
    presets = {s.preset for s in spec.stores}
    assert {"openclaw-mem", "mem0-pgvector", "mem0-history", "sql", "files"} <= presets
    assert spec.store("mem0").timeout == 5.0
    assert spec.store("notes").min_interval == 60.0


def test_defaults_apply_and_store_keys_win() -> None:
    spec = parse_spec(textwrap.dedent("""\
        defaults:
          timeout: 2s
          max_namespaces: 7
        stores:
          - {name: a, preset: openclaw-mem}
          - {name: b, preset: openclaw-mem, timeout: 500ms}
        """))
    assert (spec.store("a").timeout, spec.store("a").max_namespaces) == (2.0, 7)
    assert spec.store("b").timeout == 0.5


@pytest.mark.parametrize(("text", "expected"), [
    ("1m30s", 90.0), ("250ms", 0.25), ("2h", 7200.0), (3, 3), ("1.5s", 1.5)])
def test_durations(text: object, expected: float) -> None:
    assert parse_duration(text) == expected


def test_unknown_key_names_path_and_line() -> None:
    assert problems("""\
        stores:
          - name: a
            preset: mem0-pgvector
            dsn: env:X
            tabel: memories
        """) == ["s.yaml:5: stores[0].tabel: unknown key; did you mean `table`?"]


def test_wrong_type_and_bad_duration_lines() -> None:
    found = problems("""\
        defaults:
          max_namespaces: lots
        stores:
          - name: a
            preset: openclaw-mem
            timeout: soon
        """)
    assert found[0].startswith("s.yaml:2: defaults.max_namespaces: ")
    assert any(p.startswith("s.yaml:6: stores[0].timeout: 'soon' is not a duration")
               for p in found)


def test_unknown_and_missing_preset() -> None:
    assert problems("stores:\n  - name: a\n    preset: redis\n")[0].startswith(
        "s.yaml:3: stores[0].preset: unknown preset 'redis'")
    assert "missing key `preset`" in problems("stores:\n  - name: a\n")[0]


def test_sql_identifier_injection_is_refused() -> None:
    found = problems("""\
        stores:
          - name: a
            preset: sql
            backend: sqlite
            path: x.db
            table: "notes; DROP TABLE notes"
        """)
    assert found[0].startswith("s.yaml:6: stores[0].table: String should match pattern")


def test_cross_field_rules() -> None:
    assert "exactly one of dsn or dsn_file" in problems(
        "stores:\n  - {name: a, preset: mem0-pgvector}\n")[0]
    assert "estimate" in problems("""\
        stores:
          - {name: a, preset: sql, backend: postgresql, dsn: 'host=x', table: t, count: estimate,
             filter: [{column: x, value: 1}]}
        """)[0]
    assert "is repeated" in problems("""\
        stores:
          - {name: a, preset: openclaw-mem}
          - {name: a, preset: openclaw-mem}
        """)[0]
    assert "needs a value" in problems("""\
        stores:
          - {name: a, preset: sql, backend: sqlite, path: x, table: t, filter: [{column: c}]}
        """)[0]


def test_yaml_syntax_error_has_line() -> None:
    assert problems("stores:\n  - name: a\n    preset: [\n")[0].startswith("s.yaml:4: not valid")


def test_json_schema_describes_presets() -> None:
    schema = json.loads(json_schema())
    text = json.dumps(schema)
    for preset in ("openclaw-mem", "mem0-pgvector", "mem0-history", "sql", "files"):
        assert f'"{preset}"' in text
    assert schema["additionalProperties"] is False


def test_committed_schema_is_current() -> None:
    assert (ROOT / "docs" / "spec.schema.json").read_text() == json_schema(), (
        "regenerate: memwatch spec schema > docs/spec.schema.json")


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MW_TEST_DSN", "postgresql://u:Zq9-env-secret@h/db")
    assert resolve("env:MW_TEST_DSN", None, "dsn") == "postgresql://u:Zq9-env-secret@h/db"
    f = tmp_path / "pw"
    f.write_text("Zq9-file-secret\n")
    assert resolve(None, f, "password") == "Zq9-file-secret"
    line = redact("failed for postgresql://u:Zq9-env-secret@h/db with Zq9-file-secret")
    assert "Zq9" not in line and "***" in line
    with pytest.raises(SecretError, match="MW_TEST_UNSET is not set"):
        resolve("env:MW_TEST_UNSET", None, "dsn")
    with pytest.raises(SecretError, match="cannot read"):
        resolve(None, tmp_path / "nope", "dsn")


def test_sql_store_password_and_password_file_is_a_spec_error(tmp_path: Path) -> None:
    """Before: `spec check` passed and the backend died on a raw ValidationError when it
    built the PostgreSQL source."""
    found = problems(f"""\
        stores:
          - {{name: a, preset: sql, backend: postgresql, dsn: 'host=x', table: t,
             password: p, password_file: {tmp_path / "pw"}}}
        """)
    assert len(found) == 1
    assert "give at most one of password or password_file" in found[0]
    assert found[0].startswith("s.yaml:2: stores[0]: ")
    found = problems("""\
        stores:
          - {name: a, preset: sql, backend: sqlite, path: x.db, table: t, password: p}
        """)
    assert "backend sqlite takes no password or password_file" in found[0]
