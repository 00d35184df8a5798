"""Loading a spec: the YAML read safely, validated as the models, and every error named by
its file, line and key path, the way a user finds it in an editor.

The node tree is composed first so each key path in the document maps to its line; a
pydantic error's location is then followed through that tree (skipping union tags, and
following a path a model validator put at the start of its message).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from memwatch.errors import SpecError
from memwatch.spec import safe_yaml
from memwatch.spec.document import MONITORING_SECTIONS, ExporterSpec, Spec, presets

SpecT = TypeVar("SpecT", bound=ExporterSpec)


def _lines(node: yaml.Node) -> dict[tuple[Any, ...], int]:
    """Map every key path in the document to its 1-based line."""
    out: dict[tuple[Any, ...], int] = {}

    def walk(n: yaml.Node, path: tuple[Any, ...]) -> None:
        out[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = (*path, k.value)
                walk(v, key)
                out[key] = k.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*path, i))

    walk(node, ())
    return out


_MSG_PATH = re.compile(r"^(?P<path>[A-Za-z_]\w*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): ")


def _descend(cur: Any, item: Any) -> tuple[bool, Any]:
    if (isinstance(cur, dict) and item in cur) or (
            isinstance(cur, list) and isinstance(item, int) and item < len(cur)):
        return True, cur[item]
    return False, None


def _locate(loc: tuple[Any, ...], msg: str, data: Any, lines: dict[tuple[Any, ...], int]
            ) -> tuple[str, int, str]:
    """Turn a pydantic error location into a key path and line, skipping union tags and
    following a path that a model validator put at the start of its message."""
    path: list[Any] = []
    cur = data
    tag_at = -1  # the depth whose union tag was skipped: once, the next `files` is a key
    for item in loc:
        if tag_at != len(path) and isinstance(cur, dict) and cur.get("preset") == item and \
                item in presets() and (not path or isinstance(path[-1], int)):
            tag_at = len(path)
            continue  # the union's tag, not the document's key of the same name (`files`)
        found, nxt = _descend(cur, item)
        if found:
            path.append(item)
            cur = nxt
        elif isinstance(cur, dict) and isinstance(item, str) and item not in _skip():
            path.append(item)  # a missing key: report it at its parent's line
            break
    if (match := _MSG_PATH.match(msg)) is not None:
        tokens: list[Any] = []
        for part in match.group("path").split("."):
            name, _, idx = part.partition("[")
            tokens += [name] + ([int(idx[:-1])] if idx else [])
        sub, ok = cur, True
        for tok in tokens:
            ok, sub = _descend(sub, tok)
            if not ok:
                break
        if ok:
            path += tokens
            msg = msg[match.end():]
    line = lines.get(tuple(path)) or lines.get(tuple(path[:-1])) or 1
    text = ""
    for p in path:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text or "(top level)", line, msg


def _skip() -> set[str]:
    """Location items that are not keys of the document: union tags, pydantic markers."""
    return {*presets(), "[key]", "function-after", "function-before", "function-plain"}


@functools.cache
def _spec_keys() -> frozenset[str]:
    """Every key a spec can hold, at any depth: what "did you mean" picks from."""
    keys: set[str] = set()
    seen: set[type] = set()

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            for name, field in annotation.model_fields.items():
                keys.add(field.alias or name)
                walk(field.annotation)
        for arg in get_args(annotation):
            walk(arg)

    walk(Spec)
    return frozenset(keys)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean `x`?` for the closest choice, or nothing when none is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.75)
    return f"; did you mean `{close[0]}`?" if close else ""


def _format_problem(err: Any) -> str:
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        key = err["loc"][-1] if err["loc"] else ""
        msg = "unknown key" + (did_you_mean(key, _spec_keys()) if isinstance(key, str) else "")
    if err["type"] == "union_tag_not_found":
        msg = f"missing key `preset`; expected one of {presets()}"
    if err["type"] == "union_tag_invalid" and isinstance(err.get("input"), dict):
        preset = err["input"].get("preset")
        hint = did_you_mean(preset, presets()) if isinstance(preset, str) else ""
        msg = f"preset: unknown preset {preset!r}{hint} (expected one of {presets()})"
    return msg


def _validate(model: type[SpecT], text: str, source: str,
              skip: frozenset[str] = frozenset()) -> SpecT:
    """Validate spec text as `model`, the top-level keys in `skip` left out; raise SpecError
    naming each bad key path and its line."""
    try:
        node, data = safe_yaml.parse(text, source)
    except yaml.YAMLError as exc:
        raise SpecError([safe_yaml.problem(exc, text, source)]) from None
    if not isinstance(data, dict) or node is None:
        raise SpecError([f"{source}:1: the spec must be a mapping with a `stores` list"])
    lines = _lines(node)
    data = {k: v for k, v in data.items() if k not in skip}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path, line, msg = _locate(tuple(err["loc"]), _format_problem(err), data, lines)
            problems.append(f"{source}:{line}: {path}: {msg}")
        raise SpecError(problems) from None


def _load(model: type[SpecT], path: str | Path, skip: frozenset[str] = frozenset()) -> SpecT:
    p = Path(path)
    return _validate(model, safe_yaml.read_text(p), str(p), skip)


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    """Validate spec text; raise SpecError naming each bad key path and its line."""
    return _validate(Spec, text, source)


def load_spec(path: str | Path) -> Spec:
    return _load(Spec, path)


def load_exporter_spec(path: str | Path) -> ExporterSpec:
    """The spec as `memwatch export` reads it: every key it uses validated as load_spec
    does, the monitoring and consolidator sections left out (MONITORING_SECTIONS)."""
    return _load(ExporterSpec, path, MONITORING_SECTIONS)
