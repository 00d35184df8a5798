"""Python twins of the Go template functions our alert annotations use, so the promtool
tests can state the exact annotation text an alert fires with."""

from __future__ import annotations

import math


def go_g4(v: float) -> str:
    """Go's fmt %.4g (same rules as C's %g)."""
    return f"{v:.4g}"


def humanize_percentage(v: float) -> str:
    return f"{go_g4(v * 100)}%"


def humanize_duration(v: float) -> str:
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v < 1:
        raise ValueError("sub-second durations are not used in memwatch annotations")
    secs = int(v)
    seconds, minutes, hours, days = secs % 60, secs // 60 % 60, secs // 3600 % 24, secs // 86400
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {seconds}s"
    if minutes:
        return f"{sign}{minutes}m {seconds}s"
    return f"{sign}{go_g4(v)}s"


def humanize_1024(v: float) -> str:
    if abs(v) <= 1:
        return go_g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return f"{go_g4(v)}{prefix}"


def printf_0f(v: float) -> str:
    # Go's %.0f rounds half to even like Python's format
    return "NaN" if math.isnan(v) else f"{v:.0f}"


# value kind -> (Go template pipeline, Python twin)
FORMATS = {
    "ratio": ("{{ $value | humanizePercentage }}", humanize_percentage),
    "duration": ("{{ $value | humanizeDuration }}", humanize_duration),
    "count": ('{{ printf "%.0f" $value }}', printf_0f),
    "bytes": ("{{ $value | humanize1024 }}B", lambda v: humanize_1024(v) + "B"),
    # Go's %.2f and Python's both round the exact binary value correctly: the same digits
    "stddev": ('{{ printf "%.2f" $value }}', lambda v: f"{v:.2f}"),
}
