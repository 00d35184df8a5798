"""Reading a spec's YAML without letting the file break the reader.

A spec is read by people's tools and written by hand: its bytes must be UTF-8, its nesting
shallow enough for a recursive reader, its aliases must not expand into millions of values
(a 515-byte file of nested aliases rendered 24 MB and took 710 MB), and a key given twice in
one mapping is a mistake PyYAML would settle silently by keeping the last. Each of these is
a SpecError naming the line, before anything is validated or rendered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from memwatch.errors import SpecError

MAX_DEPTH = 64  # mappings and sequences inside one another
MAX_VALUES = 100_000  # values once every alias is expanded (a 1,000-store spec: ~20,000)
# libyaml's parser where PyYAML was built with it: 10x the pure-Python one on big specs
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_text(path: Path) -> str:
    """The file's text; a SpecError naming the line of the first byte that is not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError([f"{path}: cannot read the spec: {exc.strerror}"]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError([f"{path}:{line}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at "
                         f"column {column} (save the file as UTF-8)"]) from None


def parse(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for the lines of errors) and its data. Raises
    yaml.YAMLError for text that is not YAML, SpecError for the hazards above."""
    loader = _LOADER(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:  # the pure-Python composer, without libyaml
            raise SpecError([f"{source}:1: nested more than {MAX_DEPTH} levels deep"]) \
                from None
        if node is None:
            return None, None
        _Checker(source).size(node)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


class _Checker:
    """Nesting depth, duplicate keys, recursive aliases and the size of the document with
    every alias expanded: an aliased node counts each time it is used, and nests as deep as
    where it is used; its size and height are computed once. It recurses at most MAX_DEPTH
    deep, and runs before load.py's `_lines` walks the document."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.known: dict[int, tuple[int, int]] = {}  # id(node): (values, height)
        self.open: set[int] = set()

    def size(self, node: yaml.Node, depth: int = 0) -> tuple[int, int]:
        """(values, height) of `node` expanded; `depth`: how deep it is used."""
        if depth > MAX_DEPTH:
            self._fail(node, f"nested more than {MAX_DEPTH} levels deep")
        known = self.known.get(id(node))
        if known is None:
            known = self._measure(node, depth)
            self.known[id(node)] = known
            if known[0] > MAX_VALUES:
                self._fail(node, f"its aliases expand to more than {MAX_VALUES:,} values")
        if depth + known[1] > MAX_DEPTH:
            self._fail(node, f"nested more than {MAX_DEPTH} levels deep")
        return known

    def _measure(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        if id(node) in self.open:
            self._fail(node, "an alias refers to a node that contains it")
        self.open.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            self._no_duplicates(node)
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        measured = [self.size(child, depth + 1) for child in children]
        self.open.discard(id(node))
        return (1 + sum(n for n, _ in measured), 1 + max((h for _, h in measured), default=0))

    def _no_duplicates(self, node: yaml.MappingNode) -> None:
        seen: dict[Any, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
                continue
            if key.value in seen:
                self._fail(key, f"key `{key.value}` given twice in one mapping (first at "
                                f"line {seen[key.value]}; YAML would keep only the last)")
            seen[key.value] = key.start_mark.line + 1

    def _fail(self, node: yaml.Node, why: str) -> None:
        raise SpecError([f"{self.source}:{node.start_mark.line + 1}: {why}"])


def problem(exc: yaml.YAMLError, text: str, source: str) -> str:
    """PyYAML's error as `source:line: what`; a tab where indentation goes said plainly
    (PyYAML: "found character '\\t' that cannot start any token")."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else 1
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return (f"{source}:{line}: line {line}, column {mark.column + 1}: YAML does not "
                "allow tabs for indentation; use spaces")
    return f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"
