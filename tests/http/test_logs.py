"""No secret in a log line: redaction of text, and of both log formats' fields."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import pytest

from memwatch import secrets
from memwatch.logs import JsonFormatter, LogfmtFormatter

REGISTERED = "Kx7-registered-secret-0193"
PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|[^\s"=]+)')


@pytest.fixture(autouse=True)
def registered() -> None:
    secrets.register(REGISTERED)


def record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"driver said: could not connect with {REGISTERED}")
        except RuntimeError:
            exc_info = sys.exc_info()
    rec = logging.LogRecord("memwatch.test", logging.WARNING, __file__, 1, msg, args,
                            exc_info)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def logfmt(line: str) -> dict[str, str]:
    pairs = PAIR.findall(line)
    assert " ".join(f"{k}={v}" for k, v in pairs) == line, f"not logfmt: {line}"
    return {k: json.loads(v) if v.startswith('"') else v for k, v in pairs}


# --- redact() ----------------------------------------------------------------------------

def test_redact_registered_secret() -> None:
    assert secrets.redact(f"token {REGISTERED} refused") == "token *** refused"
    assert secrets.redact(f"{REGISTERED}{REGISTERED}") == "******"
    assert secrets.redact("nothing to hide") == "nothing to hide"


@pytest.mark.parametrize(("text", "expected"), [
    ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
    ("connect postgresql://mon:S3cr%40t@db.internal:5432/mem0 failed",
     "connect postgresql://mon:***@db.internal:5432/mem0 failed"),
    ("mongodb+srv://agent:hunter2@cluster0/openclaw", "mongodb+srv://agent:***@cluster0/openclaw"),
    ("host=db password=hunter2 dbname=mem0", "host=db password=*** dbname=mem0"),
    ("PASSWORD = 'two words' user=x", "PASSWORD = *** user=x"),
    ("password='it\\'s' port=5432", "password=*** port=5432"),
    # a URL without a password keeps its user
    ("postgresql://monitor@db/mem0", "postgresql://monitor@db/mem0"),
])
def test_redact_password_forms(text: str, expected: str) -> None:
    assert secrets.redact(text) == expected


def test_resolved_secret_is_registered_in_any_form(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("MW_LOGS_DSN", "postgresql://u:Pq4-from-env-77@h/db")
    secrets.resolve("env:MW_LOGS_DSN", None, "dsn")
    # the bare password, as a driver might echo it, is hidden too
    assert secrets.redact("auth failed for 'Pq4-from-env-77'") == "auth failed for '***'"
    f = tmp_path / "pw"
    f.write_text("Fz8-from-file-12\n")
    assert secrets.resolve(None, f, "password") == "Fz8-from-file-12"
    assert "Fz8" not in secrets.redact("using Fz8-from-file-12")


# --- the formatters ----------------------------------------------------------------------

def test_json_line_hides_secrets_in_message_and_fields() -> None:
    rec = record("cannot connect with %s", REGISTERED, exc=True, store="pg",
                 error=f"FATAL: password authentication failed ({REGISTERED})",
                 dsn="postgresql://monitor:hunter22@db/mem0", detail={"token": REGISTERED})
    line = JsonFormatter().format(rec)
    assert REGISTERED not in line
    assert "hunter22" not in line
    out = json.loads(line)
    assert out["msg"] == "cannot connect with ***"
    assert out["error"] == "FATAL: password authentication failed (***)"
    assert out["dsn"] == "postgresql://monitor:***@db/mem0"
    assert out["store"] == "pg"
    assert out["level"] == "warning"
    assert "***" in out["exc"] and "RuntimeError" in out["exc"]


def test_logfmt_line_hides_secrets_in_message_and_fields() -> None:
    rec = record(f"cannot connect with {REGISTERED}", exc=True, store="pg",
                 error=f"bad {REGISTERED}", attempts=3)
    line = LogfmtFormatter().format(rec)
    assert REGISTERED not in line
    out = logfmt(line)
    assert out["msg"] == "cannot connect with ***"
    assert out["error"] == "bad ***"
    assert out["attempts"] == "3"
    assert "RuntimeError" in out["exc"]


@pytest.mark.parametrize("fmt", [JsonFormatter, LogfmtFormatter])
def test_password_kv_in_a_field_keeps_the_line_parseable(
        fmt: type[logging.Formatter]) -> None:
    """`password=\\S+` applied to the finished line ate the field's closing quote."""
    rec = record("login failed password=hunter2", store="a", error="dsn password=xyz99")
    line = fmt().format(rec)
    out = json.loads(line) if fmt is JsonFormatter else logfmt(line)
    assert out["msg"] == "login failed password=***"
    assert out["error"] == "dsn password=***"
    assert out["store"] == "a"
    assert "hunter2" not in line and "xyz99" not in line


@pytest.mark.parametrize("fmt", [JsonFormatter, LogfmtFormatter])
def test_secret_with_quotes_is_hidden_after_escaping(fmt: type[logging.Formatter]) -> None:
    """A secret with `"` or `\\` is escaped in the line: redacting the line would miss it."""
    odd = 'Qw"3\\odd-secret'
    secrets.register(odd)
    line = fmt().format(record(f"secret is {odd}", error=odd))
    out = json.loads(line) if fmt is JsonFormatter else logfmt(line)
    assert out["msg"] == "secret is ***"
    assert out["error"] == "***"
    assert "odd-secret" not in line


@pytest.mark.parametrize("fmt", [JsonFormatter, LogfmtFormatter])
def test_fields_named_password_are_hidden(fmt: type[logging.Formatter]) -> None:
    line = fmt().format(record("login", password="plain-text-pw", db_password="pw2-plain"))
    assert "plain-text-pw" not in line and "pw2-plain" not in line
    out = json.loads(line) if fmt is JsonFormatter else logfmt(line)
    assert out["password"] == out["db_password"] == "***"
