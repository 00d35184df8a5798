"""YAML for the generated files: what PyYAML's libyaml dumper writes, byte for byte, fast.

`reference_dump` is the definition: PyYAML with libyaml's emitter (block style, multi-line
strings as `|` blocks, no aliases, width 1000, unicode as is). Its representer, serializer
and resolver still run in Python for every node, most of the time of a large render, so
`dump` writes the same bytes directly for the documents gen-monitoring renders: dicts with
string keys, lists, str, int, float, bool and None. Each string's style is decided once
(libyaml's yaml_emitter_analyze_scalar and select_scalar_style, src/emitter.c) and cached.
Whatever it cannot vouch for (a tab or control character, a character outside the Basic
Multilingual Plane, a `|+` block, a long key, a tuple, a non-string key...) sends the whole
document through `reference_dump`, so the bytes never depend on which path wrote them.
tests/generators/test_yamlemit.py holds the two to the same output.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.resolver import Resolver

WIDTH = 1000  # libyaml's best_width: plain and quoted scalars break at a space beyond it
INDENT = 2  # libyaml's best_indent
MAX_KEY = 128  # bytes: a longer key is no simple key (`? key`), left to PyYAML

# libyaml's dumper when present: 10x faster than the pure-Python one
_Base: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# The fast path copies libyaml; PyYAML's Python emitter differs in corners (an empty key).
FAST_PATH = _Base is not yaml.SafeDumper


class _Dumper(_Base):  # type: ignore[valid-type,misc]
    """Block style, multi-line strings as `|` blocks, no aliases: stable, readable output."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def reference_dump(obj: Any) -> str:
    """The definition of the output: PyYAML (libyaml's emitter when installed)."""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=WIDTH, allow_unicode=True)


def load(text: str) -> Any:
    """A document we rendered, read back (libyaml's parser when present: same data)."""
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


class Unsupported(Exception):
    """The fast emitter cannot vouch for libyaml's bytes on this document."""


def dump(obj: Any) -> str:
    """`reference_dump(obj)`, written directly when the document allows."""
    if FAST_PATH:
        try:
            return fast_dump(obj)
        except Unsupported:
            pass
    return reference_dump(obj)


def fast_dump(obj: Any) -> str:
    """The document as libyaml writes it; raises Unsupported where it is not sure."""
    out: list[str] = []
    if type(obj) is dict and obj:
        _mapping(obj, 0, "", out)
    elif type(obj) is list and obj:
        _sequence(obj, 0, "", out)
    elif type(obj) in (dict, list):
        out.append("{}" if type(obj) is dict else "[]")
    else:
        raise Unsupported("a document that is not a collection")
    out.append("")
    return "\n".join(out)


# --- scalars ----------------------------------------------------------------------------

# Characters whose handling the fast path reproduces: printable ASCII, the line feed, and the
# BMP characters libyaml prints as they are (IS_PRINTABLE) that are neither a break (LS, PS)
# nor the byte-order mark.
_CERTAIN = re.compile("[\x20-\x7e\n\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*")
# A first character that makes a plain scalar an indicator in block context.
_INDICATOR_START = frozenset("#,[]{}&*!|>'\"%@`")
_STR_TAG = "tag:yaml.org,2002:str"
_resolver = Resolver()


def _implicit_tag(plain: str) -> str:
    """The tag a plain scalar reads back with (PyYAML's resolver, as its dumper asks)."""
    tag: str = _resolver.resolve(  # type: ignore[no-untyped-call]
        yaml.ScalarNode, plain, (True, False))
    return tag


def _certain(s: str) -> bool:
    """Only characters whose handling the fast path reproduces."""
    return (s.isascii() and s.isprintable()) or _CERTAIN.fullmatch(s) is not None


def _plain_allowed(s: str) -> bool:
    """libyaml's block_plain_allowed for a one-line scalar of certain characters, and the
    resolver reads it back as a string (else `'` quotes, as libyaml's plain_implicit)."""
    if not s or s[0] == " " or s[-1] == " ":
        return False
    first, second = s[0], s[1:2]
    if first in _INDICATOR_START or s.startswith(("---", "...")):
        return False
    if first in "?:-" and second in ("", " "):
        return False
    if ": " in s or s.endswith(":") or " #" in s:
        return False
    return _implicit_tag(s) == _STR_TAG


def _inline(s: str) -> str:
    """A one-line string: plain, else single-quoted (never needing double quotes here)."""
    if "\n" in s or not _certain(s):
        raise Unsupported(f"characters libyaml may escape: {s!r}")
    return s if _plain_allowed(s) else "'" + s.replace("'", "''") + "'"


def _literal(s: str) -> tuple[str, list[str]]:
    """A multi-line string as a `|` block: (indicator with hints, lines to indent)."""
    if not _certain(s) or s.endswith((" ", "\n\n")) or s == "\n" or " \n" in s:
        # double quotes (a space at a line's end) or `|+` (and a `...` document end)
        raise Unsupported(f"a block libyaml writes otherwise: {s!r}")
    hints = "|2" if s[0] in " \n" else "|"
    if not s.endswith("\n"):
        hints += "-"
    return hints, s.removesuffix("\n").split("\n")


# Strings as written, shared by every document of the process (a 1,000-store render writes
# 290,000 values and 390,000 keys, 66,000 of them distinct).
_SCALARS: dict[str, str] = {}  # one-line string -> plain or quoted
_KEYS: dict[str, str] = {}  # mapping key -> plain or quoted, with its colon
_CACHE_LIMIT = 1 << 20  # strings per cache, then it starts again


def _remember(cache: dict[str, str], s: str, text: str) -> str:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[s] = text
    return text


def _scalar(s: str) -> str:
    text = _SCALARS.get(s)
    return _remember(_SCALARS, s, _inline(s)) if text is None else text


def _key(k: Any) -> str:
    if type(k) is not str:
        raise Unsupported(f"a key that is not a string: {k!r}")
    text = _KEYS.get(k)
    if text is not None:
        return text
    if "\n" in k or len(k.encode()) > MAX_KEY:
        raise Unsupported(f"a key that is no simple key: {k!r}")
    return _remember(_KEYS, k, ("''" if not k else _inline(k)) + ":")


def _other(v: Any) -> str:
    """int, float, bool, None as SafeRepresenter writes them."""
    t = type(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if t is int:
        return str(v)
    if t is float:
        return _float(v)
    raise Unsupported(f"a value of type {t.__name__}")


def _wrapped(text: str, column: int, indent: int) -> list[str]:
    """libyaml's line breaking of a plain or single-quoted scalar that starts at `column`:
    at a single space once past WIDTH (not a quoted scalar's first or last character)."""
    quoted = text[0] == "'"
    lines: list[str] = []
    line: list[str] = []
    spaces = False
    for i, ch in enumerate(text):
        if ch == " ":
            inner = not quoted or 1 < i < len(text) - 2
            if not spaces and column > WIDTH and inner and text[i + 1] != " ":
                lines.append("".join(line))
                line, column = [" " * indent], indent
            else:
                line.append(ch)
                column += 1
            spaces = True
        else:
            line.append(ch)
            column += 1
            spaces = False
    lines.append("".join(line))
    return lines


def _float(v: float) -> str:
    if v != v:
        return ".nan"
    text = repr(v).lower()
    if text in ("inf", "-inf"):
        return text.replace("inf", ".inf")
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    if _implicit_tag(text) != "tag:yaml.org,2002:float":
        raise Unsupported(f"a float libyaml would tag: {text}")
    return text


# --- collections --------------------------------------------------------------------------


def _value(head: str, v: Any, indent: int, out: list[str]) -> None:
    """A scalar or an empty collection after `head` (`key:` or `-`); `indent` is the
    scalar's own (two beyond the key or dash) for a `|` block and broken lines."""
    t = type(v)
    if t is str:
        if "\n" in v:
            hints, lines = _literal(v)
            out.append(f"{head} {hints}")
            pad = " " * indent
            out.extend(pad + line if line else "" for line in lines)
            return
        text = _scalar(v)
        if len(head) + 1 + len(text) <= WIDTH:
            out.append(f"{head} {text}")
            return
        lines = _wrapped(text, len(head) + 1, indent)
        out.append(f"{head} {lines[0]}")
        out.extend(lines[1:])
    elif t is dict or t is list:
        if v:
            raise AssertionError("a non-empty collection is the callers' to write")
        out.append(f"{head} {{}}" if t is dict else f"{head} []")
    else:
        out.append(f"{head} {_other(v)}")


def _mapping(d: dict[Any, Any], indent: int, first: str, out: list[str]) -> None:
    """A block mapping at `indent`; its first key follows `first` (a dash, or indentation)."""
    pad = " " * indent
    prefix = first
    keys, scalars, append = _KEYS, _SCALARS, out.append  # the hot loop of a render
    for k, v in d.items():
        key = keys.get(k) if type(k) is str else None
        head = prefix + (key or _key(k))
        prefix = pad
        t = type(v)
        if t is str:
            text = scalars.get(v)
            if text is not None and len(head) + len(text) < WIDTH:
                append(f"{head} {text}")
                continue
        if t is dict and v:
            append(head)
            _mapping(v, indent + INDENT, pad + " " * INDENT, out)
        elif t is list and v:  # a sequence in a mapping is not indented
            append(head)
            _sequence(v, indent, pad, out)
        else:
            _value(head, v, indent + INDENT, out)


def _sequence(items: list[Any], indent: int, first: str, out: list[str]) -> None:
    """A block sequence with its dashes at `indent`; the first follows `first`."""
    pad = " " * indent
    prefix = first
    scalars, append = _SCALARS, out.append
    for v in items:
        head = prefix + "-"
        prefix = pad
        t = type(v)
        if t is str:
            text = scalars.get(v)
            if text is not None and len(head) + len(text) < WIDTH:
                append(f"{head} {text}")
                continue
        if t is dict and v:
            _mapping(v, indent + INDENT, head + " ", out)
        elif t is list and v:
            _sequence(v, indent + INDENT, head + " ", out)
        else:
            _value(head, v, indent + INDENT, out)
