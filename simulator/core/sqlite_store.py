"""The SQLite store (the embedded default): the connection aiosqlite opens (statements run on the event loop), a
second one checkpointing on aiosqlite's thread, WAL, group commit, versioned migrations shipped as package data."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from simulator.core.cache import ReadCache
from simulator.core.checkpoints import Checkpointer
from simulator.core.db_guard import CREATED_TABLE, DatabaseUnusable, DbLock, check_file
from simulator.core.store import Row, Store, Tx, migration_files

log = logging.getLogger("simulator.store")

_GROUP_MAX = 64  # transactions per group commit
_GROUP_WAIT_S = 0.002  # the longest a finished transaction waits for others to join its group commit

# Primary result codes of a db that cannot take writes now, as opposed to a wrong statement (a bug): BUSY, LOCKED,
# NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
_STORAGE_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})


def storage_failure(exc: BaseException) -> bool:
    """The db could not do its job (disk full, I/O error, read-only file): retry later, nothing was kept."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and isinstance(code, int) and code & 0xFF in _STORAGE_CODES


class SqliteStore(Store):
    """SQLite: writes go through :meth:`transaction`, which serialises them.

    Reads may run at any time; SQLite in WAL mode gives them a consistent snapshot.
    """

    dialect = "sqlite"

    def __init__(self, path: str, durability: str = "process") -> None:
        super().__init__(durability)
        self.path = path
        self._lock: DbLock | None = None
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._group: list[asyncio.Future[None]] = []  # finished transactions waiting for the group's COMMIT
        self._commit_scheduled = False
        self._commit_due = False
        self._timer: asyncio.TimerHandle | None = None
        self._active = 0  # HTTP requests in flight that may write (request_started / request_finished)
        # Group-commit ratio and checkpoint activity, for the benchmarks and anyone tuning.
        self.stats = {"transactions": 0, "commits": 0, "checkpoints": 0, "wal_frames": 0, "wal_restarts": 0}
        self.checkpoints: Checkpointer | None = None  # file databases only

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def location(self) -> str:
        return self.path

    def failed(self, exc: BaseException) -> bool:
        return storage_failure(exc)

    async def size_bytes(self) -> int:
        row = await self.fetch_one("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
        size = int(row[0]) if row is not None else 0
        wal = Path(self.path + "-wal")
        with contextlib.suppress(OSError):
            size += wal.stat().st_size  # noqa: ASYNC240 - one stat of a local file per scrape
        return size

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock = DbLock(self.path)
            self._lock.acquire()
        try:
            if self.path != ":memory:":
                check_file(self.path, migration_files())
            await self._connect()
            await self.migrate()
        except BaseException as exc:
            await self.close()  # no connection thread or lock left behind to keep the process or the db held
            if isinstance(exc, sqlite3.DatabaseError):
                raise DatabaseUnusable(f"{self.path} is damaged or not a simulator database ({exc}); move it aside"
                                       " or choose another --db") from exc
            raise

    async def _connect(self) -> None:
        self._conn = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = aiosqlite.Row
        await self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a killed process (what a simulator meets); FULL syncs every COMMIT, for those
        # who also want to survive power loss (durability="full").
        synchronous = "FULL" if self.durability == "full" else "NORMAL"
        await self._conn.execute(f"PRAGMA synchronous={synchronous}")
        await self._conn.execute("PRAGMA foreign_keys=ON")
        await self._conn.execute("PRAGMA busy_timeout=5000")
        await self._conn.execute("PRAGMA cache_size=-16000")
        # Grouped transactions each run in a SAVEPOINT, whose statement journal SQLite spills to a temp file past
        # 64 KB unless temp files live in memory: ~80 KB and ~40 write calls more per concurrent send, about half
        # of its system time (tests/reliability/test_write_volume.py). In memory it holds one transaction's pages.
        await self._conn.execute("PRAGMA temp_store=MEMORY")
        if self.path != ":memory:":
            # SQLite checkpoints inside the COMMIT that crosses 1,000 WAL pages: tens of ms with the event loop
            # waiting (statements run on it). The Checkpointer's own connection, on aiosqlite's thread, does it
            # instead (checkpoints.py: PASSIVE passes, then a paused TRUNCATE that empties the WAL).
            await self._conn.execute("PRAGMA wal_autocheckpoint=0")
            # Bounds the WAL file when SQLite restarts it by itself (an idle moment), not through the Checkpointer.
            await self._conn.execute("PRAGMA journal_size_limit=67108864")
            self.checkpoints = Checkpointer(self.path, self.stats, self._writers_paused,
                                            synced=self.durability == "full")
            await self.checkpoints.open()

    async def close(self) -> None:
        if self.checkpoints is not None:
            await self.checkpoints.close()
            self.checkpoints = None
        if self._conn is not None:
            if self.path != ":memory:":
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._conn.close()
            self._conn = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @contextlib.asynccontextmanager
    async def _writers_paused(self) -> AsyncIterator[None]:
        """No transaction runs or waits uncommitted inside this block (the checkpointer's paused pass)."""
        async with self._write_lock:
            if self._group:
                self._commit_group()
            yield

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
                    created = CREATED_TABLE.findall(sql)
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
    async def transaction(self, *, exclusive: bool = False) -> AsyncIterator[SqliteTx]:
        """One writer at a time (every transaction is exclusive here); returns once what it wrote is committed
        (ROLLBACK of its own writes on error).

        Group commit: a finished transaction leaves the SQLite transaction open and waits; one COMMIT follows
        for every transaction that finished in the meantime (each runs inside a SAVEPOINT, so a failure undoes
        only its own writes). It comes as soon as every HTTP request in flight has joined (at once for a lone
        request), after at most 2 ms otherwise. Sixteen concurrent sends then cost one COMMIT, not sixteen (a
        COMMIT writes every page the transaction touched to the WAL: ~140 µs for a send), and none of them
        returns before its rows are committed.
        """
        async with self._write_lock:
            tx = SqliteTx(self.conn, "SAVEPOINT grouped" if self._group else "BEGIN IMMEDIATE", self.cache,
                          self._job_mark)
            raw = self.conn._conn  # noqa: SLF001
            try:
                yield tx
                deferred = tx.take_deferred()
                if deferred and not tx.begun:
                    raw.execute(tx.begin_sql).close()
                    tx.begun = True
                _flush_deferred(raw, deferred)
                if tx.begun and self._group:
                    raw.execute("RELEASE grouped").close()
            except BaseException as exc:
                if tx.begun:
                    self._undo(tx, exc)
                self._maybe_commit()  # the group it was part of still needs its COMMIT
                raise
            if tx.remembered:
                self.cache.put_many(tx.remembered)
            committed: asyncio.Future[None] | None = None
            if tx.begun or self._group:
                self.stats["transactions"] += 1
                committed = asyncio.get_running_loop().create_future()
                self._group.append(committed)
                self._maybe_commit()
        if committed is not None:
            await committed
        for callback in tx.after_commit:
            callback()

    def _undo(self, tx: SqliteTx, exc: BaseException) -> None:
        """Roll back what ``tx`` wrote. A full disk or an I/O error can make SQLite roll back the whole transaction
        by itself: then the finished members of the group waiting for its COMMIT lost their writes too."""
        raw = self.conn._conn  # noqa: SLF001
        try:
            if raw.in_transaction:
                if tx.begin_sql.startswith("SAVEPOINT"):
                    raw.execute("ROLLBACK TO grouped").close()
                    raw.execute("RELEASE grouped").close()
                else:
                    raw.execute("ROLLBACK").close()
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                raw.execute("ROLLBACK").close()  # the savepoint is beyond repair: give up the whole group
        if not raw.in_transaction and self._group:
            group, self._group = self._group, []
            self._fail(group, exc)

    def _fail(self, group: list[asyncio.Future[None]], exc: BaseException) -> None:
        """The group's transactions were rolled back: each waiter gets the error, the cache forgets their rows."""
        self.cache.forget()
        for future in group:
            if not future.done():
                future.set_exception(exc)

    def request_started(self) -> None:
        """An HTTP request that may write has started: a group commit waits for it (briefly, see _maybe_commit)."""
        self._active += 1

    def request_finished(self) -> None:
        self._active -= 1
        self._maybe_commit()

    def _maybe_commit(self) -> None:
        # Commit now when every request in flight has joined the group (nothing else would join it soon) or it
        # is full; otherwise wait for them, at most _GROUP_WAIT_S. Lone requests never wait.
        if not self._group or self._commit_scheduled:
            return
        loop = asyncio.get_running_loop()
        if self._commit_due or len(self._group) >= max(self._active, 1) or len(self._group) >= _GROUP_MAX:
            self._commit_scheduled = True
            loop.call_soon(self._commit_soon)
        elif self._timer is None:
            self._timer = loop.call_later(_GROUP_WAIT_S, self._commit_soon)

    def _commit_soon(self) -> None:
        self._commit_scheduled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._group:
            return
        if self._write_lock.locked():
            self._commit_due = True  # the transaction holding the lock commits the group when it finishes
            return
        self._commit_group()

    def _commit_group(self) -> None:
        group, self._group = self._group, []
        self._commit_due = False
        self.stats["commits"] += 1
        try:
            self.conn._conn.execute("COMMIT").close()  # noqa: SLF001
        except BaseException as exc:  # noqa: BLE001 - every waiter of the group gets it, then it is done
            with contextlib.suppress(sqlite3.Error):
                self.conn._conn.execute("ROLLBACK").close()  # noqa: SLF001
            self._fail(group, exc)
            return
        for future in group:
            if not future.done():
                future.set_result(None)
        if self.checkpoints is not None:
            # total_changes: rows written since open, a cheap gauge of WAL growth
            self.checkpoints.after_commit(self.conn._conn.total_changes)  # noqa: SLF001

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return _fetch_one(self.conn._conn, sql, params)  # noqa: SLF001

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return _fetch_all(self.conn._conn, sql, params)  # noqa: SLF001

    async def clear(self, tx: Tx, *, keep: tuple[str, ...] = ("meta", "schema_migrations"),
                    keep_sequences: tuple[str, ...] = ()) -> None:
        """Delete every row of every table but ``keep`` (a full reset), inside ``tx``; id sequences start over
        except those of ``keep_sequences`` (tables whose ids other rows keep pointing at)."""
        self.cache.forget()
        for table in await self.table_names():
            if table not in keep:
                await tx.execute(f"DELETE FROM {table}")  # noqa: S608 - names from sqlite_master
        await tx.execute(f"DELETE FROM sqlite_sequence WHERE name NOT IN ({','.join('?' * len(keep_sequences))})",  # noqa: S608 - placeholders only
                         keep_sequences)

    async def estimate_rows(self, table: str) -> int:
        # The span of rowids: two index lookups; rows leave oldest first (retention), so the span has few holes.
        # COUNT(*) reads every row of an index, on the event loop: only while that is small.
        row = await self.fetch_one(f"SELECT max(rowid) - min(rowid) + 1 FROM {table}")  # noqa: S608 - declared names
        span = int(row[0]) if row is not None and row[0] is not None else 0
        if span > EXACT_ROWS_BELOW:
            return span
        row = await self.fetch_one(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - declared names
        return int(row[0]) if row is not None else 0

    async def table_names(self) -> list[str]:
        rows = await self.fetch_all("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        return [r[0] for r in rows]


EXACT_ROWS_BELOW = 10_000  # estimate_rows counts a table exactly up to this many rows


class SqliteTx(Tx):
    """A write transaction on the store's connection: BEGIN IMMEDIATE, or a SAVEPOINT inside the pending group."""

    def __init__(self, conn: aiosqlite.Connection, begin_sql: str = "BEGIN IMMEDIATE",
                 cache: ReadCache | None = None, job_mark: Callable[[int], int] | None = None) -> None:
        super().__init__(cache or ReadCache(), job_mark or _no_mark)
        self.conn = conn
        self.begin_sql = begin_sql
        self.begun = False

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

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = await self._call(_fetch_one, sql, params)
        return row

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._call(_fetch_all, sql, params)  # type: ignore[no-any-return]

    async def executescript_in_tx(self, sql: str) -> None:
        # executescript() would COMMIT first; run statements one by one to stay inside the transaction.
        for statement in _split_sql(sql):
            await self.execute(statement)


def _no_mark(due_at: int) -> int:
    return 0


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


def _fetch_one(raw: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Row | None:
    cur = raw.execute(sql, params)
    try:
        row: Row | None = cur.fetchone()
        return row
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
