"""The fast YAML emitter writes exactly what PyYAML writes, or hands the document to PyYAML."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from memwatch.generators.yamlemit import (
    FAST_PATH,
    Unsupported,
    dump,
    fast_dump,
    reference_dump,
)

LONG = " ".join(f"word{i}" for i in range(400))  # wraps past column 1000
QUOTED_LONG = "a: " + LONG + " # it's"

# Documents like the rendered ones: every case the fast path claims to write itself.
REPRESENTATIVE: list[Any] = [
    {"groups": [{"name": "memwatch-store-a", "rules": [{
        "alert": "MemoryCountZero", "expr": 'max by (store) (x{store="a"}) == 0', "for": "2m",
        "labels": {"severity": "critical", "store": "a"},
        "annotations": {"summary": "Store a holds no memories",
                        "description": "Held 0 memories for 2m: a reset() may have wiped it.",
                        "runbook_url": "https://example.com/ops.md#memorycountzero"}}]}]},
    {"tests": [{"name": "X a: fires", "interval": "1m", "input_series": [
        {"series": 'up{job="memwatch"}', "values": "0x2"}, {"series": "y", "values": "1x2"}],
        "alert_rule_test": [{"eval_time": "0s", "exp_alerts": []}]}]},
    # strings needing quotes: indicators, `: `, ` #`, what reads back as another type
    {"quotes": ["", " lead", "trail ", "-", "- x", "-x", "?", "? x", ":", ":x", "a:", "a: b",
                "a:b", "a #b", "a#b", "#a", "'q'", "it's", '"d"', "&a", "*a", "!t", "|", ">",
                "%", "@", "`", ",", "[x]", "{x}", "---", "--- x", "...", "..x", "true", "no",
                "yes", "null", "~", "1", "-1", "0x1f", "0o17", "1e3", "1.5", ".inf", "=",
                "<<", "2024-01-02", "12:30:00", "{{ $labels.store }}", "a | b", "x=1,y=2"]},
    {"true": 1, "a: b": "key with colon", "1": "digit key", "-": "dash"},
    {"": "an empty key"},  # libyaml writes it as a simple key, PyYAML's Python emitter not
    # multi-line strings: `|`, `|-`, `|2`, blank lines, inside lists and nested mappings
    {"text": "line one\nline two\n", "strip": "no newline\nat the end",
     "indented": "  starts indented\nthen not", "first_blank": "\nafter a blank line",
     "blank_inside": "a\n\n\nb\n", "nested": {"deeper": {"text": "x\n y\n  z\n"}},
     "items": ["one\ntwo", ["three\nfour\n"], {"k": "v\nw"}]},
    # unicode as is
    {"café": "naïve — résumé", "中文": ["記憶", "\xa0nbsp inside"], "é": "ü: ö"},
    # empty collections everywhere
    {"list": [], "dict": {}, "nested": [[], {}, [[]], [{}]], "deep": {"a": {"b": []}}},
    [], {}, [[], {}],
    # other scalars
    {"int": 3, "neg": -7, "big": 10**20, "float": 1.5, "whole": 2.0, "exp": 1e20,
     "small": 1e-07, "nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"),
     "yes": True, "no": False, "none": None},
    # sequences of sequences and mappings, top-level sequences
    [["a", "b"], [["c"]], [{"k": "v", "l": ["m"]}], "plain"],
    # long lines: plain and single-quoted scalars break at a space past column 1000
    {"expr": LONG, "quoted": QUOTED_LONG, "deep": [{"expr": LONG}],
     "spaces": "x " * 600 + "y", "double": ("ab  " * 300).strip()},
]


needs_libyaml = pytest.mark.skipif(not FAST_PATH, reason="the fast path copies libyaml")


@needs_libyaml
def test_representative_documents_take_the_fast_path_and_match_pyyaml() -> None:
    for doc in REPRESENTATIVE:
        assert fast_dump(doc) == reference_dump(doc), doc


def _plain(obj: Any) -> bool:
    """No multi-line string (we write those as `|` blocks) and no empty key."""
    if isinstance(obj, dict):
        return all(k != "" and _plain(k) and _plain(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_plain(x) for x in obj)
    return not (isinstance(obj, str) and "\n" in obj)


def test_same_as_plain_safe_dump() -> None:
    """Otherwise the output is plain yaml.safe_dump's with the same options, whichever
    emitter PyYAML uses."""
    docs = [d for d in REPRESENTATIVE if _plain(d)]
    assert len(docs) > 5
    for doc in docs:
        assert fast_dump(doc) == yaml.safe_dump(doc, sort_keys=False, width=1000,
                                                allow_unicode=True), doc


@pytest.mark.parametrize("doc", [
    {"tab": "a\tb"},  # double-quoted with an escape
    {"emoji": "\U0001F600"},  # outside the BMP: libyaml escapes it
    {"bom": "\ufeffx"},
    {"ls": "a\u2028b"},  # a Unicode line separator
    {"nel": "a\x85b"},
    {"ctl": "a\x07b"},
    {"keep": "two newlines\n\n"},  # `|+` and a `...` document end
    {"only": "\n"},
    {"space_eol": "a \nb"},  # a space before a break: double quotes
    {"ends_space": "a\nb "},
    {"k\nk": 1},  # a multi-line key
    {"k" * 129: 1},  # no simple key
    {1: "int key"},
    {"t": (1, 2)},  # a tuple: PyYAML's SafeDumper refuses it
    "a root scalar",
    None,
])
def test_documents_it_cannot_vouch_for_go_through_pyyaml(doc: Any) -> None:
    with pytest.raises(Unsupported):
        fast_dump(doc)
    try:
        expected = reference_dump(doc)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            dump(doc)
    else:
        assert dump(doc) == expected


FRAGMENTS = ["a", "store", " ", "  ", ":", ": ", "#", " #", "-", "- ", "?", "'", '"', "|",
             ">", "&", "*", "!", "%", "@", "`", ",", "[", "]", "{", "}", "\n", "\n\n", "true",
             "null", "~", "1", "0.5", "1e3", "---", "...", "=", "<<", "é", "中", "\xa0",
             "{{ $value }}", "x" * 300, "y " * 200]
RARE = ["\t", "\U0001F600", "\ufeff", "\u2028", "\r", "\x85"]  # the fallback's


def _string(rng: random.Random) -> str:
    parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 6))]
    if rng.random() < 0.01:
        parts.append(rng.choice(RARE))
    return "".join(parts)


def _key(rng: random.Random) -> str:
    """A simple key: one line, at most 128 bytes (longer ones are PyYAML's to write)."""
    return _string(rng).replace("\n", "")[:40]


def _doc(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return rng.choice([_string(rng), _string(rng), rng.randint(-5, 5), 0.25, None, True])
    if roll < 0.75:
        return {_key(rng): _doc(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_doc(rng, depth + 1) for _ in range(rng.randint(0, 4))]


@needs_libyaml
def test_random_documents_match_pyyaml() -> None:
    rng = random.Random(20240607)
    fast = 0
    for _ in range(1500):
        doc = {_key(rng): _doc(rng) for _ in range(3)}
        try:
            text = fast_dump(doc)
        except Unsupported:
            continue
        fast += 1
        assert text == reference_dump(doc), doc
    assert fast > 500  # the fast path, not the fallback, is what was compared
