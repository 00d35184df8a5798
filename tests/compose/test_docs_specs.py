"""The deployment docs: every spec shown validates, the mem0 mapping is what gen-monitoring
renders, every collection-error reason has a fix, every link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from memwatch.errors import REASONS
from memwatch.generators.output import Context
from memwatch.generators.pipeline import render_all
from memwatch.spec import parse_spec

DOCS = Path(__file__).resolve().parents[2] / "docs"
QUICKSTARTS = ["quickstart-mem0.md", "quickstart-openclaw-mem.md", "quickstart-clawmongo.md",
               "quickstart-openclaw-memory-core.md"]
PAGES = [*QUICKSTARTS, "upgrading-from-mem0-exporter.md", "deployment.md"]
_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)


def yaml_blocks(page: str) -> list[str]:
    return _BLOCK.findall((DOCS / page).read_text())


def spec_blocks(page: str) -> list[str]:
    return [b for b in yaml_blocks(page) if re.search(r"^stores:", b, re.M)]


@pytest.mark.parametrize("page", PAGES)
def test_every_spec_in_the_docs_validates(page: str) -> None:
    for block in yaml_blocks(page):
        yaml.safe_load(block)  # every yaml block is YAML
    for block in spec_blocks(page):
        parse_spec(block, f"{page} block")  # raises SpecError naming key and line


@pytest.mark.parametrize("page", QUICKSTARTS)
def test_quickstart_has_a_spec_and_a_fix_for_every_reason(page: str) -> None:
    assert spec_blocks(page), f"{page}: no spec"
    three = spec_blocks(page)[0].strip().splitlines()
    assert len([ln for ln in three if ln.startswith("    ")]) == 2, three  # preset, where
    rows = re.findall(r"^\| (`[a-z`, ]+`) \|", (DOCS / page).read_text(), re.M)
    covered = {r.strip("`") for row in rows for r in row.split(", ")}
    assert set(REASONS) <= covered, set(REASONS) - covered


def test_the_mem0_mapping_is_what_gen_monitoring_renders() -> None:
    page = "upgrading-from-mem0-exporter.md"
    spec = parse_spec(spec_blocks(page)[0])
    assert spec.recording.mem0_compat
    rendered = yaml.safe_load(render_all(spec, Context(spec_name="spec.yaml"))[
        "rules/recording.yml"])
    group = next(g for g in rendered["groups"] if g["name"] == "memwatch-mem0-compat")
    shown = next(yaml.safe_load(b) for b in yaml_blocks(page) if "record:" in b)
    assert shown == [group]
    assert [r["record"] for r in group["rules"]] == [
        "mem0_memory_total", "mem0_memory_count", "mem0_memory_drop_percentage",
        "mem0_database_up"]


def test_a_bad_key_in_a_doc_block_would_fail() -> None:
    from memwatch.errors import SpecError
    block = spec_blocks("quickstart-mem0.md")[0].replace("preset:", "presett: x\n    preset:")
    with pytest.raises(SpecError, match="presett: unknown key"):
        parse_spec(block)


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_resolve(page: str) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", (DOCS / page).read_text()):
        assert (DOCS / target).exists(), f"{page}: broken link {target}"
