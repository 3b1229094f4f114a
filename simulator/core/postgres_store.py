"""The PostgreSQL store (``--db postgresql://user@host:port/dbname``): the same simulator on a shared server database.

asyncpg with a pool of connections; each transaction runs on its own connection, so transactions run concurrently
(PostgreSQL's row locks and unique indexes keep them apart, not a lock in this process). Statements are written in
the dialect both stores share: this store numbers ``?`` placeholders (``$1``...) and gives ``insert()`` its
``RETURNING`` clause, once per statement text. Every write transaction holds a shared advisory lock that a full reset
takes exclusively: a reset is one step for every process on the database, and a send racing it lands wholly before
or wholly after it.

Durability: ``process`` (the default) commits with ``synchronous_commit = off``: a commit is in the server's memory
before the answer, which survives the simulator being killed; PostgreSQL may lose the last moments of commits if the
server itself crashes. ``full`` waits for the WAL flush on every commit.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from simulator.core.db_guard import DatabaseUnusable
from simulator.core.store import Row, Store, Tx, migration_files

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("simulator.store")

DIALECT = "postgresql"
# Advisory lock keys (any bigint; these spell "psim" and a role).
RESET_LOCK = 0x7073696D_00000001  # shared by every write transaction, exclusive for a full reset
MIGRATE_LOCK = 0x7073696D_00000002  # one process migrates at a time
POOL_SIZE = 10
_EPOCH_BUMP = "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'fleet:epoch'"
_DELETE_BELOW = 50_000  # a full reset deletes rows below this many live tuples (statistics' estimate), else TRUNCATEs
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?")
_INSERT_INTO = re.compile(r"^\s*INSERT\s+INTO\s+([A-Za-z_][A-Za-z0-9_]*)", re.I)
# SQLSTATE classes of a server that cannot do its job now (as opposed to a wrong statement): connection exception,
# insufficient resources, operator intervention (shutdown), system error; and a read-only transaction.
_STORAGE_STATES = ("08", "53", "57", "58", "25006")


def storage_failure(exc: BaseException) -> bool:
    """The server is unreachable, shutting down, out of disk or connections: retry later, nothing was kept."""
    import asyncpg

    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        return state.startswith(_STORAGE_STATES)
    # InternalClientError: a connection whose server vanished mid-exchange ("cannot switch to state ...").
    return isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError | ConnectionError | TimeoutError
                      | OSError)


def redacted(url: str) -> str:
    """The URL without its password, for messages and /_sim/health."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2...`` (a ``?`` inside a quoted literal stays)."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


def text_params(params: Sequence[Any]) -> Sequence[Any]:
    """PostgreSQL text cannot hold NUL (U+0000), which SQLite and JSON can: a NUL in a text parameter is stored as
    U+FFFD. JSON columns keep the exact value (JSON escapes it); a column compared with the same text is given the
    same replacement, so lookups still find it."""
    if any(type(p) is str and "\x00" in p for p in params):
        return [p.replace("\x00", "\ufffd") if type(p) is str else p for p in params]
    return params


async def _keep_session(conn: object) -> None:
    """The pool's reset of a returned connection: nothing beyond asyncpg's own rollback of an open transaction. Its
    default (RESET ALL, UNLISTEN, unlock, CLOSE ALL: a round trip per transaction) undoes nothing this store does:
    it sets no session state and takes only transaction-level locks."""


_VALUES = re.compile(r"^(\s*INSERT\s+INTO\s+.+?\s+VALUES\s*)(\([^()]*\))\s*$", re.I | re.S)
_MAX_PARAMS = 30_000  # PostgreSQL takes at most 65,535 parameters per statement


def deferred_statement(batches: list[tuple[str, int]]) -> str:
    """One statement writing several deferred INSERTs: each as a multi-row VALUES, together in data-modifying
    CTEs, so the rows a transaction deferred cost one round trip (``?`` placeholders, numbered later)."""
    parts = []
    for sql, count in batches:
        match = _VALUES.match(sql)
        if match is None:
            raise ValueError(f"not a deferrable statement (it needs one VALUES row of ? only): {sql[:80]!r}")
        parts.append(match.group(1) + ", ".join([match.group(2)] * count))
    if len(parts) == 1:
        return parts[0]
    return "WITH " + ", ".join(f"d{i} AS ({part})" for i, part in enumerate(parts[:-1])) + " " + parts[-1]


def _rowcount(status: str) -> int:
    """Rows a statement changed, from its command tag (``UPDATE 3``, ``INSERT 0 1``, ``DELETE 0``)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PostgresStore(Store):
    dialect = DIALECT

    def __init__(self, url: str, durability: str = "process") -> None:
        super().__init__(durability)
        self.url = url
        self._pool: asyncpg.Pool[Any] | None = None
        self._sql: dict[str, str] = {}  # statement as written -> as sent
        self._deferred_sql: dict[tuple[str, tuple[tuple[str, int], ...]], str] = {}
        self._keys: dict[str, str] = {}  # table -> the integer key insert() returns
        self._sequences: dict[str, str] = {}  # table -> the sequence of that key

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    @property
    def location(self) -> str:
        return redacted(self.url)

    @property
    def pool(self) -> asyncpg.Pool[Any]:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    def sql(self, statement: str) -> str:
        sent = self._sql.get(statement)
        if sent is None:
            sent = self._sql[statement] = numbered(statement)
        return sent

    def deferred_sql(self, shape: tuple[tuple[str, int], ...]) -> str:
        key = ("deferred", shape)
        sent = self._deferred_sql.get(key)
        if sent is None:
            if len(self._deferred_sql) > 1000:  # batches of every size: keep the cache bounded
                self._deferred_sql.clear()
            sent = self._deferred_sql[key] = numbered(deferred_statement(list(shape)))
        return sent

    def insert_sql(self, statement: str) -> str:
        key = "insert\n" + statement
        sent = self._sql.get(key)
        if sent is None:
            sent = self.sql(statement)
            match = _INSERT_INTO.match(statement)
            if match is None or match.group(1) not in self._keys:
                raise ValueError(f"insert() needs an INSERT INTO a table with an integer key: {statement[:80]!r}")
            if " RETURNING " not in statement.upper():
                sent += f" RETURNING {self._keys[match.group(1)]}"
            self._sql[key] = sent
        return sent

    async def open(self) -> None:
        import asyncpg

        settings = {"synchronous_commit": "on" if self.durability == "full" else "off",
                    "application_name": "provider-simulator"}
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=POOL_SIZE,
                                                   server_settings=settings, command_timeout=60,
                                                   reset=_keep_session)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError, TimeoutError) as exc:
            raise DatabaseUnusable(f"cannot use the PostgreSQL database {redacted(self.url)}: {_said(exc)}") from None
        try:
            await self.migrate()
        except BaseException:
            await self.close()
            raise

    async def listen(self, channel: str, callback: Callable[[str], None]) -> Callable[[], Awaitable[None]]:
        """Call ``callback(payload)`` for each NOTIFY on ``channel``, on a connection of its own (a pooled one
        would be reset on release, and LISTEN with it); returns what stops listening."""
        import asyncpg

        conn = await asyncpg.connect(self.url, server_settings={"application_name": "provider-simulator-listen"})
        await conn.add_listener(channel, lambda _conn, _pid, _channel, payload: callback(str(payload)))

        async def stop() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

        return stop

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.close(), 10)

    async def migrate(self) -> list[str]:
        """Refuse a database that is not ours or is from a newer version, then apply what is missing, one process
        at a time (an advisory lock: several simulators may start on one database together)."""
        known = migration_files(DIALECT)
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK)
            try:
                applied = await self._refuse_foreign(conn, known)
                await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY,"
                                   " name TEXT NOT NULL)")
                done: list[str] = []
                for version, name, sql in known:
                    if name in applied:
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                           version, name)
                    done.append(name)
                identities = await conn.fetch(
                    "SELECT table_name, column_name, pg_get_serial_sequence(table_name, column_name)"
                    " FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'")
                self._keys = {r[0]: r[1] for r in identities}
                self._sequences = {r[0]: r[2] for r in identities}
                return done
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK)

    async def _refuse_foreign(self, conn: Any, known: list[tuple[int, str, str]]) -> set[str]:
        """The migrations applied so far; DatabaseUnusable for a database that is another application's (tables,
        none of them ours to migrate) or was written by a newer simulator."""
        tables = {r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        if tables and "schema_migrations" not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise DatabaseUnusable(
                f"{redacted(self.url)} belongs to another application (tables: {shown}); the simulator will not add"
                " its tables to it. Give --db an empty database")
        applied = {str(r[0]) for r in await conn.fetch("SELECT name FROM schema_migrations")} \
            if "schema_migrations" in tables else set()
        newer = sorted(applied - {name for _, name, _ in known})
        if newer:
            raise DatabaseUnusable(
                f"{redacted(self.url)} was written by a newer provider-simulator (migrations unknown to this version:"
                f" {', '.join(newer)}); upgrade, or give --db another database")
        return applied

    async def check(self) -> None:
        """What open() would refuse (server unreachable, wrong credentials, a database not ours or from a newer
        version), found without writing anything: DatabaseUnusable in one line."""
        import asyncpg

        try:
            conn = await asyncpg.connect(self.url, timeout=10)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError, TimeoutError) as exc:
            raise DatabaseUnusable(f"cannot use the PostgreSQL database {redacted(self.url)}: {_said(exc)}") from None
        try:
            await self._refuse_foreign(conn, migration_files(DIALECT))
        finally:
            await conn.close()

    def failed(self, exc: BaseException) -> bool:
        return storage_failure(exc)

    @contextlib.asynccontextmanager
    async def transaction(self, *, exclusive: bool = False) -> AsyncIterator[PostgresTx]:
        """A transaction on a connection of its own; returns once committed (rolled back on error).
        ``exclusive``: no other write transaction of any process runs meanwhile (a full reset)."""
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        async with self.pool.acquire() as conn:
            # BEGIN and the lock in one round trip (the simple-query protocol takes both statements at once).
            await conn.execute(f"BEGIN; SELECT {lock}({RESET_LOCK})")
            tx = PostgresTx(self, conn)
            try:
                yield tx
                await tx.flush_deferred()
                if tx.forgotten:
                    # A cached table was written: the other processes of a fleet drop their copies (core/fleet.py).
                    await conn.execute(_EPOCH_BUMP)
                await conn.execute("COMMIT")
            except BaseException:
                try:
                    await conn.execute("ROLLBACK")
                except BaseException:  # noqa: BLE001 - cancelled too: the connection's state is unknown either way
                    # A connection that cannot roll back (the server went away mid-statement, the protocol waits
                    # for a sync that never comes) must not go back to the pool for the next transaction.
                    conn.terminate()
                raise
            self.stats["transactions"] += 1
            self.stats["commits"] += 1
        if tx.remembered:
            self.cache.put_many(tx.remembered)
        for callback in tx.after_commit:
            callback()

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = await self.pool.fetchrow(self.sql(sql), *text_params(params))
        return row

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows: list[Row] = await self.pool.fetch(self.sql(sql), *text_params(params))
        return rows

    async def size_bytes(self) -> int:
        row = await self.pool.fetchrow("SELECT pg_database_size(current_database())")
        return int(row[0]) if row is not None else 0

    async def estimate_rows(self, table: str) -> int:
        # The planner's estimate (kept by autovacuum's ANALYZE); counted while it is small or not made yet.
        row = await self.pool.fetchrow("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)", table)
        estimate = int(row[0]) if row is not None and row[0] is not None else -1
        if estimate > EXACT_ROWS_BELOW:
            return estimate
        row = await self.pool.fetchrow(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - declared names
        return int(row[0]) if row is not None else 0

    async def table_names(self) -> list[str]:
        rows = await self.pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                                     " ORDER BY tablename")
        return [r[0] for r in rows]

    async def clear(self, tx: Tx, *, keep: tuple[str, ...] = ("meta", "schema_migrations"),
                    keep_sequences: tuple[str, ...] = ()) -> None:
        self.cache.forget()
        tables = [t for t in await self.table_names() if t not in keep]
        live = await tx.fetch_one("SELECT COALESCE(SUM(n_live_tup), 0) FROM pg_stat_user_tables")
        if live is not None and int(live[0]) < _DELETE_BELOW:
            # Few rows (a test's reset): DELETE and restart the sequences, ~1 ms; TRUNCATE gives every table new
            # files, ~30 ms even when they are empty.
            await tx.execute("; ".join(f"DELETE FROM {t}" for t in tables))  # noqa: S608 - names from pg_tables
            sequences = [s for t, s in self._sequences.items() if t in tables and t not in keep_sequences]
            if sequences:
                await tx.execute("; ".join(f"SELECT setval('{s}', 1, false)" for s in sequences))
            return
        restart = [t for t in tables if t not in keep_sequences]
        kept = [t for t in tables if t in keep_sequences]
        if restart:
            await tx.execute(f"TRUNCATE {', '.join(restart)} RESTART IDENTITY")
        if kept:
            await tx.execute(f"TRUNCATE {', '.join(kept)} CONTINUE IDENTITY")

    def describe(self) -> dict[str, Any]:
        pool = self._pool
        return {**super().describe(), "database": self.location,
                "connections": pool.get_size() if pool is not None else 0,
                "idleConnections": pool.get_idle_size() if pool is not None else 0}


EXACT_ROWS_BELOW = 10_000  # estimate_rows counts a table exactly up to this many rows


class PostgresTx(Tx):
    def __init__(self, store: PostgresStore, conn: asyncpg.pool.PoolConnectionProxy[Any]) -> None:
        super().__init__(store.cache, store._job_mark)  # noqa: SLF001 - the store hands its own mark to its tx
        self.store = store
        self.conn = conn

    async def try_lock(self, key: int) -> bool:
        row = await self.fetch_one("SELECT pg_try_advisory_xact_lock(?)", (key,))
        return bool(row is not None and row[0])

    async def flush_deferred(self) -> None:
        deferred = self.take_deferred()
        if not deferred:
            return
        if sum(len(rows) * len(rows[0]) for rows in deferred.values()) > _MAX_PARAMS:
            for sql, rows in deferred.items():  # a big batch: one statement per kind of row
                await self.conn.executemany(self.store.sql(sql), [text_params(r) for r in rows])
            return
        shape = tuple((sql, len(rows)) for sql, rows in deferred.items())
        statement = self.store.deferred_sql(shape)
        params = [value for rows in deferred.values() for row in rows for value in row]
        await self.conn.execute(statement, *text_params(params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if self._deferred:
            await self.flush_deferred()
        return _rowcount(await self.conn.execute(self.store.sql(sql), *text_params(params)))

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        if self._deferred:
            await self.flush_deferred()
        key = await self.conn.fetchval(self.store.insert_sql(sql), *text_params(params))
        return int(key)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self._deferred:
            await self.flush_deferred()
        await self.conn.executemany(self.store.sql(sql), [text_params(r) for r in rows])

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        if self._deferred:
            await self.flush_deferred()
        row: Row | None = await self.conn.fetchrow(self.store.sql(sql), *text_params(params))
        return row

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self._deferred:
            await self.flush_deferred()
        rows: list[Row] = await self.conn.fetch(self.store.sql(sql), *text_params(params))
        return rows


def _said(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
