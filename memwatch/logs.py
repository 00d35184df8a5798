"""Structured logs: logfmt by default, JSON lines with --log-format json. Secrets redacted."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from memwatch.secrets import redact

_STD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for key, value in vars(record).items():
        if key not in _STD and not key.startswith("_"):
            out[key] = value
    if record.exc_info and record.exc_info[0] is not None:
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    return {key: _redacted(key, value) for key, value in out.items()}


def _redacted(key: str, value: Any) -> Any:
    """Redact each value before it is serialized: redacting the finished line would miss a
    secret that JSON escaped, and `password=\\S+` would eat the closing quote of a field."""
    if "password" in key.lower():
        return "***"
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(value if isinstance(value, str) else str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str)


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for key, value in _fields(record).items():
            text = str(value)
            if not text or any(c in text for c in ' ="\n'):
                text = json.dumps(text)
            parts.append(f"{key}={text}")
        return " ".join(parts)


def setup(fmt: str = "logfmt", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
