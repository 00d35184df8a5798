"""The `memwatch` command in-process (click's CliRunner): spec check and schema, export's
refusals (a bad web config, an unknown store) before it ever listens."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

from memwatch.cli import main
from tests.http.support import Store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "monitoring.yaml"

# Eight lines of preamble, so that every line number below is one the test chose.
HEAD = """\
# a spec with known line numbers
version: 1
defaults:
  timeout: 5s
stores:
  - name: first
    preset: files
    files: [{name: x, glob: /nonexistent/*}]
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_spec_check_accepts_the_example() -> None:
    result = run("spec", "check", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    names = [s["name"] for s in yaml.safe_load(EXAMPLE.read_text())["stores"]]
    assert len(names) >= 5
    assert f"ok ({len(names)} stores: {', '.join(names)})" in result.stdout
    assert result.stderr == ""


# (what is wrong, the store's own lines, the key path, its line, words of the message)
BAD = [
    ("unknown key", "    path: /x.sqlite\n    spoool: /x.jsonl\n",
     "stores[1].spoool", 13, "unknown key"),
    ("wrong type", "    max_namespaces: [1, 2]\n    path: /x.sqlite\n",
     "stores[1].max_namespaces", 12, "valid integer"),
    ("bad duration", "    path: /x.sqlite\n\n    timeout: 5 seconds\n",
     "stores[1].timeout", 14, "is not a duration"),
    ("out of range", "    path: /x.sqlite\n    timeout: 10m\n",
     "stores[1].timeout", 13, "less than or equal to 300"),
]


@pytest.mark.parametrize(("what", "body", "key", "line", "words"), BAD, ids=[b[0] for b in BAD])
def test_spec_check_names_key_and_line(tmp_path: Path, what: str, body: str, key: str,
                                       line: int, words: str) -> None:
    # line 9 is blank, 10-11 open the second store, `body` starts on line 12
    text = HEAD + "\n  - name: second\n    preset: openclaw-mem\n" + body
    path = write(tmp_path, text)
    assert text.splitlines()[line - 1].strip().startswith(key.rsplit(".", 1)[1] + ":")
    result = run("spec", "check", str(path))
    assert result.exit_code == 2, result.output
    assert f"error: {path}:{line}: {key}: " in result.stderr, result.stderr
    assert words in result.stderr
    assert "ok (" not in result.output


def dup_and_preset(tmp_path: Path) -> tuple[Path, Path]:
    dup = write(tmp_path, HEAD + "\n  - name: other\n    preset: files\n"
                "    files: [{name: x, glob: /nonexistent/*}]\n"
                "  - preset: files\n    name: first\n"
                "    files: [{name: x, glob: /nonexistent/*}]\n", "dup.yaml")
    preset = write(tmp_path, HEAD + "\n  - name: second\n    timeout: 3s\n"
                   "    preset: redis\n", "preset.yaml")
    return dup, preset


def test_spec_check_refuses_duplicates_and_unknown_presets(tmp_path: Path) -> None:
    dup, preset = dup_and_preset(tmp_path)
    result = run("spec", "check", str(dup))
    assert result.exit_code == 2
    assert "store name 'first' is repeated" in result.stderr
    result = run("spec", "check", str(preset))
    assert result.exit_code == 2
    assert "unknown preset 'redis'" in result.stderr
    assert "openclaw-mem" in result.stderr  # the choices are listed


def test_spec_check_duplicate_and_preset_lines(tmp_path: Path) -> None:
    dup, preset = dup_and_preset(tmp_path)
    assert f"{dup}:14: stores[2].name: " in run("spec", "check", str(dup)).stderr
    assert f"{preset}:12: stores[1].preset: " in run("spec", "check", str(preset)).stderr


def test_spec_check_files_preset_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "    bogus: 1\n")
    result = run("spec", "check", str(path))
    assert result.exit_code == 2
    assert f"{path}:9: stores[0].bogus: unknown key" in result.stderr, result.stderr


def test_spec_check_missing_file(tmp_path: Path) -> None:
    result = run("spec", "check", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 2
    assert "cannot read the spec" in result.stderr


def schema() -> dict[str, object]:
    result = run("spec", "schema")
    assert result.exit_code == 0
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


def test_spec_schema_is_a_valid_json_schema() -> None:
    s = schema()
    jsonschema.Draft202012Validator.check_schema(s)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    validator = jsonschema.Draft202012Validator(s)
    # it rejects what the loader rejects
    bad = {"stores": [{"name": "a", "preset": "files", "files": [], "spoool": 1}]}
    assert any("spoool" in e.message for e in validator.iter_errors(bad))
    assert not validator.is_valid({"stores": [{"name": "a", "preset": "redis"}]})
    # and accepts a spec written with plain numbers
    good = {"stores": [{"name": "a", "preset": "openclaw-mem", "path": "/x.sqlite",
                        "timeout": 2, "max_namespaces": 10}]}
    assert validator.is_valid(good), list(validator.iter_errors(good))


def test_example_spec_validates_against_the_schema() -> None:
    validator = jsonschema.Draft202012Validator(schema())
    errors = [f"{list(e.absolute_path)}: {e.message[:80]}"
              for e in validator.iter_errors(yaml.safe_load(EXAMPLE.read_text()))]
    assert errors == []


# --- export refuses before listening -----------------------------------------------------

@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(("web", "named"), [
    ("tls_server_config:\n  cert_file: CERT\n  key_file: KEY\n  cipher_suitez: []\n",
     "tls_server_config.cipher_suitez"),
    ("tls_server_config:\n  key_file: KEY\n", "tls_server_config.cert_file: Field required"),
    ("tls_server_config:\n  cert_file: missing.pem\n  key_file: KEY\n",
     "tls_server_config.cert_file: cannot read"),
    ("basic_auth_user:\n  prom: x\n", "basic_auth_user"),
    ("tls_server_config: [\n", "not valid YAML"),
    ("basic_auth_users:\n\tprom: x\n", "line 2, column 1: YAML does not allow tabs"),
])
def test_export_bad_web_config_exits_2(store: Store, tls_cert: tuple[Path, Path],
                                       tmp_path: Path, web: str, named: str) -> None:
    cert, key = tls_cert
    spec = write(tmp_path, store.spec())
    bad = write(tmp_path, web.replace("CERT", str(cert)).replace("KEY", str(key)), "bad.yml")
    result = run("export", "--spec", str(spec), "--listen", "127.0.0.1:0",
                 "--web-config", str(bad))
    assert result.exit_code == 2, result.output
    assert re.search(rf"error: {re.escape(str(bad))}(:\d+)?: .*{re.escape(named)}",
                     result.stderr), \
        result.stderr


@pytest.mark.usefixtures("restore_logging")
def test_export_unknown_store_exits_2(store: Store, tmp_path: Path) -> None:
    spec = write(tmp_path, store.spec())
    result = run("export", "--spec", str(spec), "--store", "nosuch", "--listen", "127.0.0.1:0")
    assert result.exit_code == 2
    assert "--store" in result.stderr
    assert "no store named nosuch" in result.stderr


@pytest.mark.usefixtures("restore_logging")
def test_export_bad_spec_exits_2(tmp_path: Path) -> None:
    spec = write(tmp_path, HEAD + "  - name: two\n    preset: openclaw-mem\n    bogus: 1\n")
    result = run("export", "--spec", str(spec), "--listen", "127.0.0.1:0")
    assert result.exit_code == 2
    assert f"{spec}:11: stores[1].bogus: unknown key" in result.stderr


STORE = "stores:\n  - {name: a, preset: files, files: [{name: d, glob: /x/*}]}\n"


def _bomb(levels: int) -> str:
    """Nested aliases, each list holding ten of the one before (issue 11, defect 3)."""
    lines = [STORE.rstrip("\n"), "prometheus:", "  extra_scrape_configs:",
             "    - a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"    - a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]"
              for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


HAZARDS = [  # issue 11, defects 1 to 5: each an error naming its line, exit 2, no traceback
    ("not UTF-8", b"stores:\n  - name: caf\xe9\n", 2, "not UTF-8 text: byte 0xe9"),
    ("nested deep", ("stores: " + "[" * 70 + "]" * 70 + "\n").encode(), 1,
     "nested more than 64 levels"),
    ("nested deeper than libyaml", ("stores: " + "[" * 1000 + "]" * 1000 + "\n").encode(),
     1, "exceeded maximum nesting depth"),
    # the fifth level (line 9) is the first over 100,000 values once expanded
    ("alias bomb", _bomb(6).encode(), 9, "aliases expand to more than 100,000"),
    ("alias bomb under an unknown key", _bomb(7).replace("prometheus:", "zz:").encode(), 9,
     "aliases expand"),
    # aliases each holding the one before: shallow as written, 1,000 deep expanded
    ("alias chain", (STORE + "zz:\n  - a0: &a0 [x]\n" + "".join(
        f"  - a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 1000))).encode(), 63,
     "nested more than 64 levels deep"),
    ("recursive alias", (STORE + "zz: &r [*r]\n").encode(), 3,
     "an alias refers to a node that contains it"),
    ("duplicate key", b"defaults:\n  max_namespaces: 5\n  max_namespaces: 7\n" +
     STORE.encode(), 3, "key `max_namespaces` given twice in one mapping (first at line 2"),
    ("infinite duration", (STORE + "routing: {group_wait: .inf}\n").encode(), 3,
     "routing.group_wait"),
    ("huge duration", (STORE + "prometheus: {scrape_interval: 1.0e+308}\n").encode(), 3,
     "prometheus.scrape_interval"),
    # issue 12: the words a new user needs
    ("a tab", b"stores:\n\t- name: x\n", 2,
     "line 2, column 1: YAML does not allow tabs for indentation; use spaces"),
    ("a tab after spaces", (STORE + "routing:\n  \tgroup_wait: 1s\n").encode(), 4,
     "line 4, column 3: YAML does not allow tabs"),
    ("mistyped preset", b"stores:\n  - name: x\n    preset: openclaw-memm\n", 3,
     "unknown preset 'openclaw-memm'; did you mean `openclaw-mem`? (expected one of ["),
    ("mistyped key", (STORE + "routing:\n  group_wiat: 1s\n").encode(), 4,
     "routing.group_wiat: unknown key; did you mean `group_wait`?"),
]


@pytest.mark.parametrize(("what", "raw", "line", "words"), HAZARDS,
                         ids=[h[0] for h in HAZARDS])
def test_spec_hazards_are_errors_with_a_line(tmp_path: Path, what: str, raw: bytes,
                                             line: int, words: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(raw)
    result = run("spec", "check", str(path))
    assert result.exit_code == 2, result.output
    assert f"error: {path}:{line}: " in result.stderr, result.stderr
    assert words in result.stderr, result.stderr
    assert isinstance(result.exception, SystemExit)  # the CLI's own exit, no traceback
    assert "Traceback" not in result.output


def test_spec_check_takes_spec_as_an_option_too(tmp_path: Path) -> None:
    path = write(tmp_path, STORE)
    assert run("spec", "check", "--spec", str(path)).stdout == run(
        "spec", "check", str(path)).stdout == f"{path}: ok (1 stores: a)\n"
    both = run("spec", "check", "--spec", str(path), str(path))
    assert both.exit_code == 2 and "give the spec once" in both.stderr
    assert run("spec", "check").exit_code == 2


@pytest.mark.parametrize(("listen", "words"), [
    ("localhost:99999", "'localhost:99999': the port must be a number from 0 to 65535"),
    ("localhost:http", "the port must be a number"),
    ("::1:9187", "an IPv6 address goes in brackets, as [::1]:9187"),
])
@pytest.mark.parametrize("command", ["export", "consolidate", "demo"])
def test_a_bad_listen_address_is_one_line(tmp_path: Path, command: str, listen: str,
                                          words: str) -> None:
    spec = ["--spec", str(write(tmp_path, STORE))] if command != "demo" else []
    result = run(command, *spec, "--listen", listen)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --listen '{listen}': ")
    assert words in result.stderr and result.stderr.count("\n") == 1  # one line
    assert "Traceback" not in result.output


def test_a_bad_listen_address_in_the_spec_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, STORE + "exporter: {listen: 'localhost:99999'}\n")
    result = run("spec", "check", str(path))
    assert result.exit_code == 2
    assert f"{path}:3: exporter.listen: 'localhost:99999': the port must be" in result.stderr


def test_unknown_key_in_a_files_entry_is_named_at_its_line(tmp_path: Path) -> None:
    """Issue 11, defect 6: the preset `files` is also the key of its list, and both were
    taken for the union's tag: the error named `stores[0].zz_unknown_key` at line 2."""
    path = write(tmp_path, "stores:\n  - name: backups\n    preset: files\n    files:\n"
                           "      - name: dumps\n        glob: /b/*\n        max_age: 36h\n"
                           "        zz_unknown_key: 1\n")
    result = run("spec", "check", str(path))
    assert result.exit_code == 2
    assert f"error: {path}:8: stores[0].files[0].zz_unknown_key: unknown key" in result.stderr
