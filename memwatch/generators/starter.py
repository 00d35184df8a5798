"""`gen-monitoring init`: a commented starter spec, one store per `--preset`.

The presets are the spec's store classes (the `Store` union), never a list of their own.
A store gets what its class needs: its required keys, the location it reads (`path`, a
secret `dsn`/`uri` read from the environment, with the `*_file` alternative in a comment)
and, when its validators ask for more (a `files` store needs a check), the key's example.
Placeholders are kept per key, not per preset: a new preset whose required key has none
fails `tests/generators/test_starter.py`, which renders every preset.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from memwatch.errors import MemwatchError
from memwatch.generators import yamlemit
from memwatch.spec import MongoSource, PostgresSource, Store, did_you_mean
from memwatch.spec.monitoring import DEFAULT_RUNBOOK_URL

# A required key's placeholder, by key (a Literal takes its first value).
REQUIRED: dict[str, Any] = {"table": "memories", "database": "agent_memory",
                            "collection": "memories"}
# Keys a store's validators may ask for beyond the required ones, tried in this order.
WHEN_NEEDED: dict[str, Any] = {
    "files": [{"name": "backups", "glob": "/var/backups/{name}/*.dump", "max_age": "36h"}]}
SECRETS: tuple[tuple[type[BaseModel], str], ...] = ((PostgresSource, "dsn"), (MongoSource, "uri"))

OUT = "monitoring"  # the --out the comments suggest; the runbook URL example follows it
RUNBOOK_EXAMPLE = {"alerts": {"runbook_url": "https://git.example.com/ops/monitoring/blob/"
                                             f"main/{OUT}/{DEFAULT_RUNBOOK_URL}"}}
ROUTING_EXAMPLE = {"routing": {"default_receiver": "oncall", "receivers": [
    {"name": "oncall", "slack": [{"api_url_file": "/run/secrets/slack_api_url",
                                  "channel": "#memwatch"}]}]}}


class UnknownPreset(MemwatchError):
    pass


def preset_classes() -> dict[str, type[BaseModel]]:
    """preset name -> its store class, from the spec's `Store` union."""
    union = get_args(get_args(Store)[0])
    return {get_args(cls.model_fields["preset"].annotation)[0]: cls for cls in union}


def _placeholder(cls: type[BaseModel], key: str, name: str) -> Any:
    annotation = cls.model_fields[key].annotation
    if get_origin(annotation) is Literal:
        return get_args(annotation)[0]
    if key == "path":
        return f"/var/lib/{name}/{name}.db"
    if key not in REQUIRED:
        raise KeyError(f"{cls.__name__}.{key}: no placeholder for this required key "
                       f"(memwatch/generators/starter.py REQUIRED)")
    return REQUIRED[key]


def _fill(value: Any, name: str) -> Any:
    if isinstance(value, str):
        return value.replace("{name}", name)
    if isinstance(value, list):
        return [_fill(v, name) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, name) for k, v in value.items()}
    return value


def store_keys(preset: str, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The store's keys in order, and the comment beside some of them."""
    cls = preset_classes()[preset]
    fields = cls.model_fields
    keys: dict[str, Any] = {"name": name, "preset": preset}
    comments: dict[str, str] = {}
    for key, field in fields.items():
        if field.is_required() and key not in keys:
            keys[field.alias or key] = _placeholder(cls, key, name)
    if "path" in fields and "path" not in keys:
        default = fields["path"].default
        keys["path"] = default if isinstance(default, str) else _placeholder(cls, "path", name)
    for base, key in SECRETS:
        if issubclass(cls, base):
            keys[key] = f"env:{re.sub(r'[^A-Z0-9]', '_', name.upper())}_{key.upper()}"
            comments[key] = f"or {key}_file: /run/secrets/{name}_{key}"
    for key, example in WHEN_NEEDED.items():
        if key in fields and not _valid(cls, keys):
            keys[key] = _fill(example, name)
    return keys, comments


def _valid(cls: type[BaseModel], keys: dict[str, Any]) -> bool:
    try:
        cls.model_validate(keys)
    except ValidationError:
        return False
    return True


def _names(presets: Sequence[str]) -> list[str]:
    """Each store named after its preset; a preset given twice: `name`, `name-2`..."""
    out: list[str] = []
    for p in presets:
        n = 1
        while (p if n == 1 else f"{p}-{n}") in out:
            n += 1
        out.append(p if n == 1 else f"{p}-{n}")
    return out


def _store_lines(preset: str, name: str) -> list[str]:
    keys, comments = store_keys(preset, name)
    doc = " ".join((preset_classes()[preset].__doc__ or "").split())
    lines = textwrap.wrap(f"{preset}: {doc}", 88, initial_indent="  # ",
                          subsequent_indent="  # ")
    for i, (key, value) in enumerate(keys.items()):
        text = yamlemit.dump({key: value}).rstrip("\n").splitlines()
        text = [("  - " if i == 0 and j == 0 else "    ") + t for j, t in enumerate(text)]
        if key in comments:
            text[0] += f"  # {comments[key]}"
        lines += text
    return [*lines, ""]


def _commented(obj: dict[str, Any]) -> list[str]:
    return [f"# {line}" for line in yamlemit.dump(obj).splitlines()]


def check_presets(presets: Iterable[str]) -> list[str]:
    known = preset_classes()
    given = list(presets)
    if not given:
        raise UnknownPreset(f"give at least one --preset (known: {', '.join(sorted(known))})")
    for p in given:
        if p not in known:
            raise UnknownPreset(f"--preset {p!r}: unknown preset{did_you_mean(p, known)} "
                                f"(known: {', '.join(sorted(known))})")
    return given


def starter_spec(presets: Iterable[str]) -> str:
    """The spec text; UnknownPreset names a preset the spec does not know."""
    given = check_presets(presets)
    argv = " ".join(f"--preset {p}" for p in given)
    lines = [
        f"# memwatch spec, from `gen-monitoring init {argv}`.",
        "# Replace the placeholders (paths, env: variables), then:",
        "#   memwatch spec check <this file>",
        f"#   gen-monitoring render --spec <this file> --out {OUT}",
        "# Every key: docs/spec.md; editor completion: docs/spec.schema.json.",
        "version: 1", "", "stores:",
    ]
    for preset, name in zip(given, _names(given), strict=True):
        lines += _store_lines(preset, name)
    lines += [
        "# Every alert links to alerts.runbook_url + #<alert name in lower case>. Unset, that",
        f"# is {DEFAULT_RUNBOOK_URL}, the runbooks gen-monitoring renders into --out, which a",
        "# notification cannot open: set it to the URL that file is served at, e.g. your",
        "# repository's web view of it (render warns until then).",
        *_commented(RUNBOOK_EXAMPLE), "",
        "# Every alert reaches the consolidator (routing.consolidator_url), which pages",
        "# nobody: add a receiver that reaches a person and make it the default (render warns",
        "# until then). Secrets are files Alertmanager reads, never written into the spec.",
        *_commented(ROUTING_EXAMPLE),
    ]
    return "\n".join(lines) + "\n"
