"""Storage: migrations are recorded by name, so a lower-numbered one added later is still applied."""
from __future__ import annotations

import asyncio

from simulator.core import store as store_module
from simulator.core.store import Store, migration_files


def test_every_migration_applied_once_and_gaps_filled(tmp_path, monkeypatch):
    db = str(tmp_path / "m.db")
    all_files = migration_files()
    skipped = all_files[1]  # pretend this one did not exist when the db was first created

    async def scenario() -> tuple[list[str], list[str], set[str]]:
        monkeypatch.setattr(store_module, "migration_files", lambda: [m for m in all_files if m != skipped])
        first = Store(db)
        await first.open()
        await first.close()
        monkeypatch.setattr(store_module, "migration_files", lambda: all_files)
        second = Store(db)
        await second.open()
        applied_again = await second.migrate()
        rows = await second.fetch_all("SELECT name FROM schema_migrations ORDER BY version")
        tables = set(await second.table_names())
        await second.close()
        return [r[0] for r in rows], applied_again, tables

    names, applied_again, tables = asyncio.run(scenario())
    assert names == [name for _, name, _ in all_files]
    assert applied_again == []
    assert "bird_messages" in tables and "schema_migrations" in tables
