"""SQL for the custom `sql` preset, for SQLite and PostgreSQL alike.

Identifiers were validated by the spec (letters, digits, underscore) and are quoted here;
every value, JSON key included, is a bound parameter. No SQL comes from unchecked strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from memwatch.spec import Condition, SqlStore

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# ISO-8601 at the start of a string: guards PostgreSQL casts so one bad row can't fail a scrape.
PG_ISO_GUARD = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"

Dialect = Literal["sqlite", "postgresql"]


def ident(name: str) -> str:
    if not _IDENT.match(name):  # the spec already checked; this keeps the module safe alone
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


@dataclass
class Query:
    sql: str
    params: list[Any]


class SqlBuilder:
    """Builds the custom preset's queries for one dialect."""

    def __init__(self, store: SqlStore, dialect: Dialect) -> None:
        self.store = store
        self.dialect = dialect
        self.ph = "?" if dialect == "sqlite" else "%s"
        table = ident(store.table)
        self.table = f"{ident(store.schema_)}.{table}" if store.schema_ else table

    def _field(self, ref: str, params: list[Any]) -> str:
        """A column, or `column.key.sub` as the JSON field's text."""
        col, *keys = ref.split(".")
        if not keys:
            return ident(col)
        if self.dialect == "sqlite":
            params.append("$." + ".".join(f'"{k}"' for k in keys))
            return f"json_extract({ident(col)}, {self.ph})"
        params.append(keys)
        return f"({ident(col)} #>> {self.ph})"

    def _where(self, params: list[Any]) -> str:
        parts = [self._condition(c, params) for c in self.store.filter]
        return f" WHERE {' AND '.join(parts)}" if parts else ""

    def _condition(self, c: Condition, params: list[Any]) -> str:
        field = self._field(c.column, params)
        if c.op == "is_null":
            return f"{field} IS NULL"
        if c.op == "not_null":
            return f"{field} IS NOT NULL"
        value = c.value
        if "." in c.column and self.dialect == "postgresql":
            value = _json_text(value)  # #>> yields text: compare as text
        elif isinstance(value, bool) and self.dialect == "sqlite":
            value = int(value)
        params.append(value)
        return f"{field} {c.op} {self.ph}"

    def count(self) -> Query:
        params: list[Any] = []
        where = self._where(params)
        return Query(f"SELECT count(*) FROM {self.table}{where}", params)

    def namespaces(self, limit: int) -> Query | None:
        if not self.store.namespace:
            return None
        params: list[Any] = []
        ns = self._field(self.store.namespace, params)
        where = self._where(params)
        if self.dialect == "postgresql":
            ns = f"({ns})::text"
        params.append(limit)
        return Query(f"SELECT {ns} AS ns, count(*) AS n FROM {self.table}{where} "
                     f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {self.ph}", params)

    def newest(self) -> Query | None:
        """max(record time) as Unix seconds."""
        if not self.store.timestamp:
            return None
        field_params: list[Any] = []
        ts = self._field(self.store.timestamp, field_params)
        fmt = self.store.timestamp_format
        params = list(field_params)
        if fmt == "unix_seconds":
            expr = f"{ts}" if self.dialect == "sqlite" else f"({ts})::double precision"
        elif fmt == "unix_milliseconds":
            expr = f"({ts}) / 1000.0" if self.dialect == "sqlite" else (
                f"({ts})::double precision / 1000.0")
        elif self.dialect == "sqlite":
            # julianday() is ~10 us off at today's dates: round to milliseconds
            expr = f"round((julianday({ts}) - 2440587.5) * 86400.0, 3)"
        else:  # the field appears twice: guard, then cast
            text = f"({ts})::text"
            expr = (f"extract(epoch FROM CASE WHEN {text} ~ {self.ph} "
                    f"THEN {text}::timestamptz END)")
            params = [*field_params, PG_ISO_GUARD, *field_params]
        where = self._where(params)
        return Query(f"SELECT max({expr}) FROM {self.table}{where}", params)


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
