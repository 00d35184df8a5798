"""The base of every spec model, and the checks several models make the same way."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Unknown keys are errors (a typo must not pass as a default); a loaded spec does not
    change; a model is built when first used, so a process that never reads a section (the
    exporter and the monitoring sections) never pays for it."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _given(value: object) -> bool:
    return value is not None and value != ()


def exactly_one(model: BaseModel, first: str, second: str, needs: str = "give") -> None:
    """`give exactly one of <first> or <second>` unless exactly one of the fields is set."""
    if _given(getattr(model, first)) == _given(getattr(model, second)):
        raise ValueError(f"{needs} exactly one of {first} or {second}")


def at_most_one(model: BaseModel, first: str, second: str) -> None:
    """`give at most one of <first> or <second>` when both fields are set."""
    if _given(getattr(model, first)) and _given(getattr(model, second)):
        raise ValueError(f"give at most one of {first} or {second}")


def repeated(names: Iterable[str]) -> list[str]:
    """The names given more than once, sorted: what a "must be unique" error lists."""
    seen: set[str] = set()
    twice: set[str] = set()
    for name in names:
        (twice if name in seen else seen).add(name)
    return sorted(twice)
