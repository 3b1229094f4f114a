"""Storage: migrations are recorded by name, so a lower-numbered one added later is still applied."""
from __future__ import annotations

import asyncio

from simulator.core import checkpoints as checkpoints_module
from simulator.core import sqlite_store as store_module
from simulator.core.sqlite_store import SqliteStore as Store
from simulator.core.store import migration_files


def test_every_migration_applied_once_and_gaps_filled(tmp_path, monkeypatch):
    db = str(tmp_path / "m.db")
    all_files = migration_files()
    # Pretend this one did not exist when the db was first created (coverage's: no later one needs it).
    skipped = next(m for m in all_files if "coverage" in m[1])

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
    assert "bird_messages" in tables and "coverage_counts" in tables and "schema_migrations" in tables


def test_db_from_before_schema_migrations_is_adopted(tmp_path):
    """A db whose tables exist but that has no schema_migrations table starts without re-creating them."""
    import sqlite3

    db = str(tmp_path / "old.db")
    conn = sqlite3.connect(db)
    from simulator.core.sqlite_store import _split_sql

    # Such dbs were written by versions whose last migration was 0006; later ones must then apply on top.
    for version, _, sql in migration_files():
        if version > 6:
            continue
        for statement in _split_sql(sql):
            conn.execute(statement)
    conn.execute("PRAGMA user_version=6")
    conn.execute("INSERT INTO bird_messages (id, workspace_id, channel_id, direction, status, created_at, data)"
                 " VALUES ('m1', 'w', 'c', 'outgoing', 'sent', 1700000000123, '{}')")
    conn.execute("INSERT INTO ui_bird_status_history (message_id, event, status, at) VALUES ('m1', 'e', 'sent', 1)")
    conn.commit()
    conn.close()

    async def reopen() -> tuple[list[str], list[tuple[str, int, int]]]:
        store = Store(db)
        await store.open()
        rows = await store.fetch_all("SELECT name FROM schema_migrations ORDER BY version")
        history = await store.fetch_all("SELECT message_id, message_created_at, message_seq FROM"
                                        " bird_status_history")
        await store.close()
        return [r[0] for r in rows], [tuple(r) for r in history]

    names, history = asyncio.run(reopen())
    assert names == [name for _, name, _ in migration_files()]
    # 0007 keyed the UI timeline by creation time, 0011 by the message's rowid; each filled in rows written before.
    assert history == [("m1", 1700000000123, 1)]


def test_group_commit_isolates_failures_and_commits_before_returning(tmp_path):
    """Concurrent transactions share one COMMIT, yet each returns only once its rows are committed (a second
    connection sees them), a failing member undoes only its own writes, and after_commit callbacks run."""
    import sqlite3

    db = str(tmp_path / "g.db")

    async def scenario() -> tuple[list[str], list[int], int, list[str], list[int]]:
        store = Store(db)
        await store.open()
        async with store.transaction() as tx:
            await tx.execute("CREATE TABLE t (v INTEGER PRIMARY KEY)")
        seen_by_other: list[int] = []
        callbacks: list[str] = []

        async def writer(v: int) -> str:
            try:
                async with store.transaction() as tx:
                    tx.defer("INSERT INTO t (v) VALUES (?)", (v,))
                    await tx.execute("INSERT INTO t (v) VALUES (?)", (v + 1000,))
                    tx.after_commit.append(lambda: callbacks.append(f"after {v}"))
                    if v % 3 == 0:
                        raise ValueError(f"member {v} fails")
            except ValueError:
                return f"failed {v}"
            # Committed before the transaction returned: another connection sees the row.
            other = sqlite3.connect(db)
            try:
                if other.execute("SELECT 1 FROM t WHERE v=?", (v,)).fetchone():
                    seen_by_other.append(v)
            finally:
                other.close()
            return f"ok {v}"

        commits_before = store.stats["commits"]  # the migrations' own
        results = await asyncio.gather(*(writer(v) for v in range(1, 31)))
        rows = await store.fetch_all("SELECT v FROM t WHERE v < 1000 ORDER BY v")
        commits = store.stats["commits"] - commits_before
        await store.close()
        return results, [r[0] for r in rows], commits, callbacks, seen_by_other

    results, rows, commits, callbacks, seen_by_other = asyncio.run(scenario())
    good = [v for v in range(1, 31) if v % 3]
    assert results == [f"failed {v}" if v % 3 == 0 else f"ok {v}" for v in range(1, 31)]
    assert rows == good
    assert sorted(seen_by_other) == good
    assert sorted(callbacks, key=lambda c: int(c.split()[1])) == [f"after {v}" for v in good]
    # 30 transactions that all ran in one event-loop turn: far fewer COMMITs than transactions.
    assert commits < 10, commits


def test_wal_restarts_although_writes_continue_during_the_checkpoint(tmp_path, monkeypatch):
    """SQLite restarts the WAL only when a write begins after every frame was copied back. Under continuous
    writes that never happens (the WAL reached 1.8 GB in an hour-long advance), so past a size the checkpoint
    runs a last pass with writers paused, which also empties the WAL file (TRUNCATE, off the event loop). Here a
    write lands during the first pass, deterministically; a WAL that restarted is then refilled from its start, so
    later writes leave it smaller than before the checkpoint."""
    import os
    import sqlite3

    monkeypatch.setattr(checkpoints_module, "CHECKPOINT_EVERY", 10**9)  # checkpoints only when this test says
    monkeypatch.setattr(checkpoints_module, "CHECKPOINT_INTERVAL_S", 10**9)
    monkeypatch.setattr(checkpoints_module, "RESTART_FRAMES", 1)
    db = str(tmp_path / "w.db")

    async def scenario() -> tuple[int, int]:
        store = Store(db)
        await store.open()
        async with store.transaction() as tx:
            await tx.execute("CREATE TABLE blobs (v BLOB)")

        async def write(n: int) -> None:
            for _ in range(n):
                async with store.transaction() as tx:
                    await tx.execute("INSERT INTO blobs (v) VALUES (?)", (bytes(3000),))

        await write(100)
        checkpoints = store.checkpoints
        assert checkpoints is not None
        first_pass = checkpoints.checkpoint_pass
        passes = 0

        async def pass_with_a_write_under_way(*mode: str) -> tuple[int, int]:
            nonlocal passes
            passes += 1
            if passes > 1:
                return await first_pass(*mode)
            other = sqlite3.connect(db, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # begun before the pass, committed after it
            other.execute("INSERT INTO blobs (v) VALUES (?)", (bytes(3000),))
            frames = await first_pass()
            other.execute("COMMIT")
            other.close()
            return frames

        monkeypatch.setattr(checkpoints, "checkpoint_pass", pass_with_a_write_under_way)
        size_before = os.path.getsize(db + "-wal")
        await checkpoints.run()
        assert os.path.getsize(db + "-wal") == 0, "the paused pass did not empty the WAL"
        assert store.stats["wal_restarts"] == 1
        await write(50)  # fewer frames than the WAL held before
        size_after_writes = os.path.getsize(db + "-wal")
        await store.close()
        return size_before, size_after_writes

    size_before, size_after_writes = asyncio.run(scenario())
    assert 0 < size_after_writes < size_before, "the WAL kept growing: it never restarted"
