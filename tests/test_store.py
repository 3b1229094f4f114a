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


def test_db_from_before_schema_migrations_is_adopted(tmp_path):
    """A db whose tables exist but that has no schema_migrations table starts without re-creating them."""
    import sqlite3

    db = str(tmp_path / "old.db")
    conn = sqlite3.connect(db)
    from simulator.core.store import _split_sql

    for _, _, sql in migration_files():
        for statement in _split_sql(sql):
            conn.execute(statement)
    conn.execute("PRAGMA user_version=6")
    conn.commit()
    conn.close()

    async def reopen() -> list[str]:
        store = Store(db)
        await store.open()
        rows = await store.fetch_all("SELECT name FROM schema_migrations ORDER BY version")
        await store.close()
        return [r[0] for r in rows]

    assert asyncio.run(reopen()) == [name for _, name, _ in migration_files()]
