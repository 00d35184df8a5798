"""Unix seconds from the timestamps memory stores hold: ISO-8601 strings, Unix seconds or
milliseconds, and (MongoDB's BSON dates) datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_time(text: object) -> float | None:
    """Unix seconds from an ISO-8601 string ('...000Z' or '+00:00') or a number."""
    if isinstance(text, int | float):
        return float(text) / 1000 if text > 1e11 else float(text)
    if not isinstance(text, str) or not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:  # naive times in memory stores are UTC by convention
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def to_unix(value: Any) -> float | None:
    """Unix seconds from a datetime (naive: UTC), an ISO-8601 string or Unix
    seconds/milliseconds; None for anything else (a bool is no time)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return float(value.timestamp())
    if isinstance(value, bool):
        return None
    return parse_time(value)
