"""Alertmanager's webhook payload (version 4), validated strictly enough to store safely."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

# Alertmanager (Go) writes RFC 3339 with up to nanoseconds; Python keeps microseconds.
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$")


def parse_rfc3339(value: object) -> datetime:
    """An RFC 3339 timestamp, fractional seconds truncated to microseconds, in UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not (m := _RFC3339.match(value)):
        raise ValueError("not an RFC 3339 timestamp")
    date, clock, frac, zone = m.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    text = f"{date}T{clock}.{(frac or '0')[:6].ljust(6, '0')}{zone}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-01:00 is past year 9999 in UTC
        raise ValueError("outside the years 1 to 9999 once in UTC") from None


def no_nul(text: str) -> str:
    """U+0000 as U+FFFD: PostgreSQL's text cannot hold NUL, and a delivery refused for it
    would lose its other alerts; every storage keeps the same text, so dedup agrees."""
    return text.replace("\x00", "\ufffd")


Timestamp = Annotated[datetime, BeforeValidator(parse_rfc3339)]
Text = Annotated[str, AfterValidator(no_nul)]
Labels = dict[Annotated[Text, Field(max_length=1024)], Annotated[Text, Field(max_length=65536)]]


class Model(BaseModel):
    # Alertmanager may add fields in later versions: ignore unknown keys rather than refuse
    # deliveries, but every key we read is typed.
    model_config = ConfigDict(extra="ignore", frozen=True)


class WebhookAlert(Model):
    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: Timestamp
    endsAt: Timestamp | None = None
    generatorURL: Text = ""
    fingerprint: Text = Field(min_length=1, max_length=128)


class WebhookPayload(Model):
    version: Literal["4"]
    groupKey: str = ""
    truncatedAlerts: int = Field(0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[WebhookAlert] = Field(max_length=100000)
