"""SQL for the custom `sql` preset, for SQLite and PostgreSQL alike.

Identifiers were validated by the spec (letters, digits, underscore) and are quoted here;
every value, JSON key included, is a bound parameter. No SQL comes from unchecked strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from memwatch.metrics import NO_NAMESPACE
from memwatch.spec import Condition, SqlStore

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# A whole ISO-8601 timestamp with in-range fields (days per month, leap years, offsets):
# guards PostgreSQL casts so one bad row can't fail a scrape. A prefix check is not enough:
# '2026-02-30T10:00', '...T25:61' or trailing text pass it and then fail `::timestamptz`.
_PG_DATE = (r"[1-9][0-9]{3}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])"
            r"|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
            r"|([1-9][0-9](0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26])00)-02-29")
_PG_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
_PG_ZONE = r"( ?(Z|UTC|GMT|[+-](0[0-9]|1[0-4])(:[0-5][0-9](:[0-5][0-9])?|[0-5][0-9])?))?"
PG_ISO_GUARD = f"^({_PG_DATE})[T ]{_PG_TIME}{_PG_ZONE}$"
_PG_NUMBER = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]{1,3})?$"  # a JSON number numeric can hold

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
            if isinstance(value, int | float) and not isinstance(value, bool):
                # #>> yields text, and as text "150" < "50": compare a number as a number
                # (as SQLite does); a field that is not a number is NULL, not an error
                params.append(_PG_NUMBER)
                again = self._field(c.column, params)
                field = f"CASE WHEN {field} ~ {self.ph} THEN ({again})::numeric END"
            else:
                value = _json_text(value)  # compare as text
        elif isinstance(value, bool) and self.dialect == "sqlite":
            value = int(value)
        params.append(value)
        return f"{field} {c.op} {self.ph}"

    def count(self) -> Query:
        params: list[Any] = []
        where = self._where(params)
        return Query(f"SELECT count(*) FROM {self.table}{where}", params)

    def namespaces(self, limit: int, watch: frozenset[str] = frozenset()) -> Query | None:
        """One scan: rows `(0, ns, n)` for the `limit` largest namespaces and `(1, label,
        n)` for the watched ones (memwatch/namespaces.py), whose label counts NULL and ''
        as `__none__`. The groups are computed once for both."""
        if not self.store.namespace:
            return None
        params: list[Any] = []
        ns = self._field(self.store.namespace, params)
        if self.dialect == "postgresql":
            ns = f"({ns})::text"
        where = self._where(params)
        if self.dialect == "sqlite":
            once, member = "MATERIALIZED ", f"IN (SELECT value FROM json_each({self.ph}))"
            names: Any = json.dumps(sorted(watch))
        else:  # PostgreSQL materializes a CTE referenced twice by itself
            once, member, names = "", f"= ANY({self.ph})", sorted(watch)
        params += [limit, NO_NAMESPACE, names]
        return Query(
            f"WITH per_ns AS {once}(SELECT {ns} AS ns, count(*) AS n FROM {self.table}{where} "
            f"GROUP BY 1) "
            f"SELECT 0, ns, n FROM (SELECT ns, n FROM per_ns ORDER BY n DESC, ns "
            f"LIMIT {self.ph}) top "
            f"UNION ALL SELECT 1, label, n FROM (SELECT coalesce(nullif(CAST(ns AS TEXT), ''), "
            f"{self.ph}) AS label, n FROM per_ns) w WHERE label {member}", params)

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
