"""One warning when a store's configured table (or collection) is missing.

mem0 creates its table lazily and `reset()` drops it, so a missing table is no collection
error: memwatch_table_exists 0 and a count of 0. A wrong `table:` looks the same, and
would pass unnoticed: the exporter logs it once per episode (again only after the table
was seen and went missing again), naming the table and the command that says more.
"""

from __future__ import annotations

import logging

log = logging.getLogger("memwatch.backends")


class MissingTable:
    def __init__(self, store: str, table: str, kind: str = "table") -> None:
        self.store = store
        self.table = table
        self.kind = kind
        self.warned = False

    def seen(self, exists: bool) -> None:
        """Called on each collection with whether the table exists."""
        if exists:
            self.warned = False
            return
        if self.warned:
            return
        self.warned = True
        log.warning(f"memory {self.kind} missing", extra={
            "store": self.store, self.kind: self.table,
            "hint": f"exported as memwatch_table_exists 0 and 0 memories; if the {self.kind} "
                    f"is not new or just reset, its name may be wrong: memwatch doctor "
                    f"--spec SPEC --store {self.store}"})
