"""Secrets from the environment or from files, and their redaction from any text we emit.

A spec value `env:NAME` reads the environment variable NAME; a `*_file` key reads a file
(Docker/Kubernetes secrets). Every resolved secret is registered so that `redact()` can
scrub it from log lines and error messages.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from memwatch.errors import SecretError

_known: set[str] = set()
_lock = threading.Lock()
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<at>@)")
_KV_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)


def register(secret: str) -> None:
    """Remember a secret value so redact() hides it wherever it shows up."""
    if len(secret) >= 3:  # a 1-2 character "secret" would redact half the log
        with _lock:
            _known.add(secret)


def redact(text: str) -> str:
    """Hide known secrets and anything that looks like a password in a DSN."""
    text = _URL_PASSWORD.sub(r"\g<scheme>***\g<at>", text)
    text = _KV_PASSWORD.sub(r"\g<key>***", text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, "***")
    return text


def resolve(value: str | None, file: Path | None, what: str) -> str | None:
    """Resolve an inline value, an `env:VAR` reference or a file into the secret's text."""
    if value is not None and file is not None:
        raise SecretError(f"{what}: give either the value or the *_file, not both")
    if file is not None:
        try:
            secret = Path(file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"{what}: cannot read {file}: {exc.strerror}") from None
    elif value is not None and value.startswith("env:"):
        var = value[4:]
        if var not in os.environ:
            raise SecretError(f"{what}: environment variable {var} is not set")
        secret = os.environ[var]
    else:
        secret = value  # type: ignore[assignment]
    if secret is None:
        return None
    register(secret)
    for pw in passwords_in(secret):
        register(pw)
    return secret


def passwords_in(text: str) -> list[str]:
    """The passwords a DSN or URI holds (`user:pw@`, `password=pw`)."""
    return ([m.group("pw") for m in _URL_PASSWORD.finditer(text)]
            + [m.group("pw").strip("'") for m in _KV_PASSWORD.finditer(text)])
