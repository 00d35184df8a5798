"""`gen-monitoring init`: a starter spec for any presets that passes `memwatch spec check`
and renders as written; its commented examples are valid and silence render's warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memwatch.generators import yamlemit
from memwatch.generators.pipeline import warnings
from memwatch.generators.starter import ROUTING_EXAMPLE, RUNBOOK_EXAMPLE, starter_spec
from memwatch.spec import parse_spec, presets

BIN = Path(sys.executable).parent


def run(tool: str, *args: str | Path, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("preset", presets())
def test_init_writes_a_spec_that_spec_check_accepts(tmp_path: Path, preset: str) -> None:
    spec = tmp_path / "memwatch.yaml"
    res = run("gen-monitoring", "init", "--preset", preset, "--out", spec)
    assert res.returncode == 0, res.stderr
    check = run("memwatch", "spec", "check", spec)
    assert check.returncode == 0, check.stderr
    assert check.stdout == f"{spec}: ok (1 stores: {preset})\n"
    store = parse_spec(spec.read_text()).stores[0]
    assert (store.name, store.preset) == (preset, preset)
    for key in ("dsn", "uri"):  # a secret is read from the environment, never written
        assert getattr(store, key, None) in (None, f"env:{preset.upper().replace('-', '_')}_"
                                                   f"{key.upper()}")


def test_every_preset_at_once_renders_as_written(tmp_path: Path) -> None:
    args = [a for p in [*presets(), presets()[0]] for a in ("--preset", p)]
    res = run("gen-monitoring", "init", *args)
    assert res.returncode == 0, res.stderr
    (tmp_path / "memwatch.yaml").write_text(res.stdout)
    spec = parse_spec(res.stdout)
    assert [s.name for s in spec.stores] == [*presets(), f"{presets()[0]}-2"]
    render = run("gen-monitoring", "render", "--spec", "memwatch.yaml", "--out", "out",
                 cwd=tmp_path)
    assert render.returncode == 0, render.stderr
    assert render.stderr.count("warning: ") == 2  # no runbook URL yet, nobody paged yet
    assert (tmp_path / "out" / "rules" / "tests" / f"store-{presets()[0]}-2.yml").is_file()


def test_the_commented_examples_are_valid_and_answer_the_warnings() -> None:
    text = starter_spec(["mem0-pgvector", "openclaw-mem"])
    assert len(warnings(parse_spec(text))) == 2
    for example in (RUNBOOK_EXAMPLE, ROUTING_EXAMPLE):
        commented = "".join(f"# {line}\n" for line in yamlemit.dump(example).splitlines())
        assert commented in text
    enabled = text + yamlemit.dump(RUNBOOK_EXAMPLE) + yamlemit.dump(ROUTING_EXAMPLE)
    assert warnings(parse_spec(enabled)) == []


def test_out_is_not_overwritten_without_force(tmp_path: Path) -> None:
    spec = tmp_path / "memwatch.yaml"
    spec.write_text("mine\n")
    res = run("gen-monitoring", "init", "--preset", "openclaw-mem", "--out", spec)
    assert (res.returncode, res.stderr) == (2, f"error: {spec} exists; add --force to "
                                               "overwrite it\n")
    assert spec.read_text() == "mine\n"
    res = run("gen-monitoring", "init", "--preset", "openclaw-mem", "--out", spec, "--force")
    assert res.returncode == 0, res.stderr
    assert spec.read_text() == starter_spec(["openclaw-mem"])


@pytest.mark.parametrize(("args", "error"), [
    (("--preset", "mem0-pgvektor"), "error: --preset 'mem0-pgvektor': unknown preset; did you "
                                    "mean `mem0-pgvector`? (known: "),
    (("--preset", "redis"), "error: --preset 'redis': unknown preset (known: "),
    ((), "error: give at least one --preset (known: "),
])
def test_an_unknown_or_missing_preset_is_one_line_naming_the_known_ones(
        args: tuple[str, ...], error: str) -> None:
    res = run("gen-monitoring", "init", *args)
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr == f"{error}{', '.join(presets())})\n"
