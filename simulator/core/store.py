"""SQLite storage: one aiosqlite connection per app, WAL, versioned migrations shipped as package data."""
from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

_GROUP_MAX = 64  # transactions per group commit: bounds how long the first of a group waits

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_CREATED_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?([A-Za-z_][A-Za-z0-9_]*)", re.I)


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration in simulator/migrations, in order."""
    root = importlib.resources.files("simulator").joinpath("migrations")
    found: list[tuple[int, str, str]] = []
    for entry in root.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration numbers: {sorted(versions)}")
    return found


class Store:
    """The simulator's database. Writes go through :meth:`transaction`, which serialises them.

    Reads may run at any time; SQLite in WAL mode gives them a consistent snapshot.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._group: list[asyncio.Future[None]] = []  # finished transactions waiting for the group's COMMIT
        self._commit_scheduled = False
        self.stats = {"transactions": 0, "commits": 0}  # the group-commit ratio, reported by the benchmarks

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = aiosqlite.Row
        await self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a killed process (what a simulator meets); FULL would also cover power loss.
        await self._conn.execute("PRAGMA synchronous=NORMAL")
        await self._conn.execute("PRAGMA foreign_keys=ON")
        await self._conn.execute("PRAGMA busy_timeout=5000")
        await self._conn.execute("PRAGMA cache_size=-16000")
        await self.migrate()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def migrate(self) -> list[str]:
        """Apply every migration not applied yet, in order; returns the names applied now.

        Applied migrations are recorded by name, so one added later with a lower number than an applied one
        (parallel branches) is still applied, where a single user_version number would skip it.
        """
        tables = set(await self.table_names())
        async with self.transaction() as tx:
            await tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT"
                             " NOT NULL)")
            if "schema_migrations" not in tables and tables:
                # A db from before schema_migrations existed: a migration counts as applied when its tables exist.
                for version, name, sql in migration_files():
                    created = _CREATED_TABLE.findall(sql)
                    if created and all(t in tables for t in created):
                        await tx.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
        done = {r[0] for r in await self.fetch_all("SELECT version FROM schema_migrations")}
        applied: list[str] = []
        for version, name, sql in migration_files():
            if version in done:
                continue
            async with self.transaction() as tx:
                await tx.executescript_in_tx(sql)
                await tx.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
                await tx.execute(f"PRAGMA user_version={max(done | {version})}")
            done.add(version)
            applied.append(name)
        return applied

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One writer at a time; returns once what it wrote is committed (ROLLBACK of its own writes on error).

        Group commit: a finished transaction leaves the SQLite transaction open and waits; the COMMIT runs on the
        event loop's next turn, for every transaction that finished in the meantime (each runs inside a SAVEPOINT,
        so a failure undoes only its own writes). Sixteen concurrent sends then cost one COMMIT, not sixteen, and
        none of them returns before its rows are committed.
        """
        async with self._write_lock:
            tx = Tx(self.conn, "SAVEPOINT grouped" if self._group else "BEGIN IMMEDIATE")
            raw = self.conn._conn  # noqa: SLF001
            try:
                yield tx
            except BaseException:
                if tx.begun:
                    if self._group:
                        raw.execute("ROLLBACK TO grouped").close()
                        raw.execute("RELEASE grouped").close()
                    else:
                        raw.execute("ROLLBACK").close()
                raise
            deferred = tx.take_deferred()
            if deferred and not tx.begun:
                raw.execute(tx.begin_sql).close()
                tx.begun = True
            _flush_deferred(raw, deferred)
            committed: asyncio.Future[None] | None = None
            if tx.begun or self._group:
                self.stats["transactions"] += 1
                if tx.begun and self._group:
                    raw.execute("RELEASE grouped").close()
                committed = asyncio.get_running_loop().create_future()
                self._group.append(committed)
                if len(self._group) >= _GROUP_MAX:
                    self._commit_group()
                elif not self._commit_scheduled:
                    self._commit_scheduled = True
                    asyncio.get_running_loop().call_soon(self._commit_soon)
        if committed is not None:
            await committed
        for callback in tx.after_commit:
            callback()

    def _commit_soon(self) -> None:
        self._commit_scheduled = False
        if self._write_lock.locked():
            return  # the transaction holding the lock schedules the commit again when it finishes
        if self._group:
            self._commit_group()

    def _commit_group(self) -> None:
        group, self._group = self._group, []
        self.stats["commits"] += 1
        try:
            self.conn._conn.execute("COMMIT").close()  # noqa: SLF001
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self.conn._conn.execute("ROLLBACK").close()  # noqa: SLF001
            for future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for future in group:
            if not future.done():
                future.set_result(None)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        return await _run(self.conn, _fetch_one, sql, params)  # type: ignore[no-any-return]

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        return await _run(self.conn, _fetch_all, sql, params)  # type: ignore[no-any-return]

    async def table_names(self) -> list[str]:
        rows = await self.fetch_all("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        return [r[0] for r in rows]


class Tx:
    """A write transaction in progress. ``after_commit`` callbacks run once it has committed."""

    def __init__(self, conn: aiosqlite.Connection, begin_sql: str = "BEGIN IMMEDIATE") -> None:
        self.conn = conn
        self.begin_sql = begin_sql
        self.after_commit: list[Any] = []
        # Per-transaction memo for lookups that cannot change inside it (e.g. webhook subscriptions of a workspace
        # while a batch of transitions emits hundreds of events).
        self.memo: dict[Any, Any] = {}
        self._deferred: dict[str, list[Sequence[Any]]] = {}
        self.begun = False

    def defer(self, sql: str, params: Sequence[Any]) -> None:
        """Queue an append-only INSERT that no later statement of this transaction modifies: deferred rows are
        written with executemany along with the next statement or the COMMIT, not one thread hop per row."""
        self._deferred.setdefault(sql, []).append(params)

    def take_deferred(self) -> dict[str, list[Sequence[Any]]]:
        deferred, self._deferred = self._deferred, {}
        return deferred

    async def _call(self, fn: Any, sql: str, params: Any) -> Any:
        begin, self.begun = not self.begun, True
        deferred = self.take_deferred() if self._deferred else None
        return _in_tx(self.conn._conn, self.begin_sql if begin else None, deferred, fn, sql, params)  # noqa: SLF001

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._call(_exec_rowcount, sql, params)  # type: ignore[no-any-return]

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._call(_exec_lastrowid, sql, params)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._call(_exec_many, sql, list(rows))

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        return await self._call(_fetch_one, sql, params)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        return await self._call(_fetch_all, sql, params)  # type: ignore[no-any-return]

    async def executescript_in_tx(self, sql: str) -> None:
        # executescript() would COMMIT first; run statements one by one to stay inside the transaction.
        for statement in _split_sql(sql):
            await self.execute(statement)


# One statement = one hop to aiosqlite's thread. `async with conn.execute(...) as cur` costs two or three hops
# (execute, fetch, close); profiling the send path showed the event loop idle, waiting on those hops.
async def _run(conn: aiosqlite.Connection, fn: Any, sql: str, params: Sequence[Any]) -> Any:
    return fn(conn._conn, sql, params)  # noqa: SLF001


def _flush_deferred(raw: sqlite3.Connection, deferred: dict[str, list[Sequence[Any]]]) -> None:
    for sql, rows in deferred.items():
        raw.executemany(sql, rows).close()


def _in_tx(raw: sqlite3.Connection, begin: str | None, deferred: dict[str, list[Sequence[Any]]] | None, fn: Any,
           sql: str, params: Any) -> Any:
    if begin:
        raw.execute(begin).close()
    if deferred:
        _flush_deferred(raw, deferred)
    return fn(raw, sql, params)


def _exec_many(raw: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]) -> None:
    raw.executemany(sql, rows).close()


def _exec_rowcount(raw: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    cur = raw.execute(sql, params)
    try:
        return cur.rowcount
    finally:
        cur.close()


def _exec_lastrowid(raw: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    cur = raw.execute(sql, params)
    try:
        return cur.lastrowid or 0
    finally:
        cur.close()


def _fetch_one(raw: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Any:
    cur = raw.execute(sql, params)
    try:
        return cur.fetchone()
    finally:
        cur.close()


def _fetch_all(raw: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    cur = raw.execute(sql, params)
    try:
        return cur.fetchall()
    finally:
        cur.close()


def _split_sql(sql: str) -> list[str]:
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") or not stripped:
            continue
        buffer += line + "\n"
        if stripped.endswith(";") and _complete(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def _complete(statement: str) -> bool:
    # Triggers contain inner semicolons; a CREATE TRIGGER is complete only at its END;
    upper = statement.upper()
    if "CREATE TRIGGER" in upper:
        return upper.rstrip().endswith("END;")
    return True
