"""Rows that hot paths read on every request (a send's contact, opt-out state, webhook subscriptions), kept
across transactions. Each SELECT cost 5-20 µs of a ~270 µs send. Writers of a table forget it (``Tx.forget``), a
full reset forgets everything, and a failed group COMMIT too."""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Final

MISSING: Final = object()  # what get() answers for a key it does not hold (None is a value worth caching)


class ReadCache:
    """Values of any type, per table and hashable key; what a value is, only its table's reader knows."""

    def __init__(self, limit_per_table: int = 10_000) -> None:
        self.limit = limit_per_table
        self._tables: dict[str, dict[Hashable, object]] = {}

    def get(self, table: str, key: Hashable) -> object:
        return self._tables.get(table, {}).get(key, MISSING)

    def put_many(self, entries: Mapping[tuple[str, Hashable], object]) -> None:
        for (table, key), value in entries.items():
            rows = self._tables.setdefault(table, {})
            if len(rows) >= self.limit:
                rows.clear()  # bounded memory; a cold cache only costs the SELECTs it saved
            rows[key] = value

    def forget(self, table: str | None = None) -> None:
        if table is None:
            self._tables.clear()
        else:
            self._tables.pop(table, None)
