"""Value types shared by the spec's modules: durations, identifiers, names."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

DURATION_PATTERN = r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$"
_DURATION = re.compile(DURATION_PATTERN)


def parse_duration(value: Any) -> Any:
    """Accept seconds as a number or a Prometheus-style duration such as 500ms, 5s, 1m30s."""
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if not value.strip() or not match or not any(match.groups()):
            raise ValueError(f"{value!r} is not a duration (e.g. 500ms, 5s, 2m, 1h)")
        h, m, s, ms = match.groups()
        return int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0) + int(ms or 0) / 1000
    return value


# Marked so the JSON Schema can say "a number or a duration string" (spec/schema.py).
DURATION_MARK = "x-memwatch-duration"
# Every duration is finite and at most ten years: an infinite or 1e308-second one passed
# validation and overflowed where rules and configs write it as a Prometheus duration.
MAX_SECONDS = 10 * 365 * 86400
Seconds = Annotated[float, BeforeValidator(parse_duration),
                    Field(allow_inf_nan=False, ge=0, le=MAX_SECONDS,
                          json_schema_extra={DURATION_MARK: True})]
Timeout = Annotated[Seconds, Field(gt=0, le=300)]
# SQL identifiers are checked here and quoted by the backend: no SQL is assembled from
# unchecked strings.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
JsonPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z0-9_-]{1,64})+$")
]
StoreName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
LabelValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
# A Prometheus label name (matchers, group_by, external labels)
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]


def parse_listen(address: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT` as (host, port); no host means
    127.0.0.1 (memwatch listens on loopback unless told otherwise). ValueError says what
    is wrong in one line."""
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = "", address
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{address!r}: an IPv6 address goes in brackets, as [::1]:9187")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{address!r}: the port must be a number from 0 to 65535 "
                         "(HOST:PORT)")
    return host or "127.0.0.1", int(port)


def _listen(address: str) -> str:
    parse_listen(address)
    return address


# A listen address, checked as parse_listen reads it
ListenAddress = Annotated[str, AfterValidator(_listen)]
