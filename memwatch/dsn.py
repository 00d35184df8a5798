"""What is wrong with a PostgreSQL DSN, said without quoting it: libpq's own parse errors
can quote a password (`unexpected spaces found in "S3cret PW"`)."""

from __future__ import annotations

# libpq's parse errors -> what to say instead (their text, not ours, quotes the input)
_PROBLEMS = (
    ("unexpected spaces found", "a value holds spaces: percent-encode them (%20) in a URI, "
                                "or quote the value in key=value form"),
    ('missing "=" after', "a key without '=' (key=value form) or an unknown URI scheme "
                          "(postgresql://)"),
    ("unterminated quoted string", "a quoted value is not closed"),
    ("invalid URI query parameter", "an unknown query parameter in the URI"),
    ("invalid percent-encoded token", "a broken %-escape in the URI"),
    ("forbidden value %00", "a %00 in the URI"),
    ("invalid connection option", "an unknown key"),
)


def dsn_problem(dsn: str) -> str | None:
    """None when libpq can parse `dsn`; else what is wrong, never quoting any of it."""
    from psycopg import ProgrammingError, conninfo

    try:
        params = conninfo.conninfo_to_dict(dsn)
    except ProgrammingError as exc:
        text = str(exc)
        for pattern, say in _PROBLEMS:
            if pattern in text:
                return f"malformed: {say}"
        return "malformed: not a libpq key=value string or a postgresql:// URI"
    # libpq checks the port only when it connects (a `connect` error then)
    ports = str(params.get("port", "")).split(",")
    if any(p and not (p.isdigit() and int(p) <= 65535) for p in ports):
        return "malformed: the port is not a number from 0 to 65535"
    return None
