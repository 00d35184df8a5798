"""The spec's JSON Schema, for editor completion (yaml-language-server): pydantic's, with
durations described as a number or a string and the sections' defaults filled in."""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import to_jsonable_python

from memwatch.spec.document import MONITORING_SECTIONS, Spec
from memwatch.spec.types import DURATION_MARK, DURATION_PATTERN


def json_schema() -> str:
    """The spec's JSON Schema, for editor completion (yaml-language-server)."""
    schema = _durations(Spec.model_json_schema(by_alias=True))
    for name in MONITORING_SECTIONS:  # a default_factory's value is not in the schema
        default = Spec.model_fields[name].get_default(call_default_factory=True)
        schema["properties"][name]["default"] = to_jsonable_python(default, by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "memwatch spec"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def _durations(node: Any) -> Any:
    """Durations accept seconds or a string like 5s: say so, with standard bound keywords."""
    if isinstance(node, list):
        return [_durations(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: _durations(v) for k, v in node.items()}
    if node.pop(DURATION_MARK, False):
        number: dict[str, Any] = {"type": "number"}
        for key, std in _BOUNDS.items():
            if key in node:
                number[std] = node.pop(key)
        node.pop("type", None)
        node["anyOf"] = [number, {"type": "string", "pattern": DURATION_PATTERN,
                                  "description": "a duration such as 500ms, 5s, 2m, 1h30m"}]
    return node
