"""The storage interface every part of the simulator writes through: a ``Store`` opens transactions (``Tx``) and
answers reads. Two implementations: SQLite (core/sqlite_store.py, the embedded default: a file or :memory:) and
PostgreSQL (core/postgres_store.py, ``--db postgresql://...``).

SQL is written once, in the dialect the two share: ``?`` placeholders (the PostgreSQL store numbers them), upserts
with ``ON CONFLICT``, ``RETURNING``, row-value comparisons. Where they differ (the schema's DDL, listing tables,
restarting id sequences, what a storage failure looks like), the difference lives in the store, not in callers.
"""
from __future__ import annotations

import contextlib
import importlib.resources
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from simulator.core.cache import MISSING, ReadCache

if TYPE_CHECKING:
    from simulator.settings import Settings

DURABILITY = ("process", "full")  # survives kill -9 of the simulator / also an OS crash or power loss
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Row(Protocol):
    """A result row: by position (``row[0]``) or by column name (``row["data"]``)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __len__(self) -> int: ...


def migration_files(dialect: str = "sqlite") -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration of a dialect, in order: simulator/migrations/ for SQLite,
    simulator/migrations/postgresql/ for PostgreSQL."""
    root = importlib.resources.files("simulator").joinpath("migrations")
    if dialect != "sqlite":
        root = root.joinpath(dialect)
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


def is_postgres_url(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


class Tx(ABC):
    """A write transaction in progress. ``after_commit`` callbacks run once it has committed."""

    def __init__(self, cache: ReadCache, job_mark: Callable[[int], int]) -> None:
        self.cache = cache
        self.job_mark = job_mark  # what scheduler.schedule() writes into jobs.left_by
        self.remembered: dict[tuple[str, Any], Any] = {}  # goes into the cache if this transaction succeeds
        self._forgotten: set[str] = set()
        self.after_commit: list[Callable[[], object]] = []
        self._deferred: dict[str, list[Sequence[Any]]] = {}

    # -- the read cache -----------------------------------------------------------------------------------------

    def cached(self, table: str, key: Any) -> Any:
        """A value remembered for ``table``/``key`` (by this transaction or a committed one), else ``MISSING``."""
        value = self.remembered.get((table, key), MISSING)
        if value is MISSING and table not in self._forgotten:
            value = self.cache.get(table, key)
        return value

    async def read_through(self, table: str, key: Any, load: Callable[[], Awaitable[Any]], *,
                           keep_none: bool = True) -> Any:
        """The cached value for ``table``/``key``, else ``await load()`` remembered (a None too, unless
        ``keep_none`` is False: a row that is absent now may be inserted by a writer that does not forget)."""
        value = self.cached(table, key)
        if value is MISSING:
            value = await load()
            if value is not None or keep_none:
                self.remember(table, key, value)
        return value

    def remember(self, table: str, key: Any, value: Any) -> None:
        """Cache what this transaction read from or wrote to ``table`` (kept only if the transaction succeeds).
        Values must not be mutated by their readers: cache strings, tuples, numbers."""
        if table not in self._forgotten:
            self.remembered[(table, key)] = value

    @property
    def forgotten(self) -> bool:
        """Whether this transaction wrote a cached table."""
        return bool(self._forgotten)

    def forget(self, table: str) -> None:
        """Every writer of a cached table calls this: the cache drops the table at once."""
        self.cache.forget(table)
        self._forgotten.add(table)
        self.remembered = {k: v for k, v in self.remembered.items() if k[0] != table}

    # -- deferred rows --------------------------------------------------------------------------------------------

    def defer(self, sql: str, params: Sequence[Any]) -> None:
        """Queue an append-only INSERT that no later statement of this transaction modifies: deferred rows are
        written in one batch along with the next statement or the COMMIT, not a statement per row."""
        self._deferred.setdefault(sql, []).append(params)

    def take_deferred(self) -> dict[str, list[Sequence[Any]]]:
        deferred, self._deferred = self._deferred, {}
        return deferred

    # -- statements -------------------------------------------------------------------------------------------------

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""

    @abstractmethod
    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT of one row; the row's integer key (its rowid, id or seq)."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run a statement once per parameter row."""

    @abstractmethod
    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    @abstractmethod
    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def try_lock(self, key: int) -> bool:
        """Take lock ``key`` until this transaction ends, if no other process holds it (False: one does). A store
        only one process opens (SQLite's file lock) has no one to share it with."""
        return True


class Store(ABC):
    """The simulator's database. Writes go through :meth:`transaction`; reads may run at any time."""

    dialect = ""

    def __init__(self, durability: str = "process") -> None:
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, not {durability!r}")
        self.durability = durability
        self.cache = ReadCache()
        # Counters for the benchmarks and anyone tuning (GET /_sim/health shows them).
        self.stats: dict[str, int] = {"transactions": 0, "commits": 0}
        self._job_mark: Callable[[int], int] = _no_mark

    def mark_jobs_with(self, mark: Callable[[int], int]) -> None:
        """``mark(due_at)`` is written into each new job's ``left_by`` (the scheduler's run marks, see there)."""
        self._job_mark = mark

    @property
    @abstractmethod
    def is_open(self) -> bool: ...

    @property
    def location(self) -> str:
        """Where the data lives, as said to a user (a path, or a server URL without its password)."""
        return ""

    @abstractmethod
    async def open(self) -> None:
        """Open (creating or migrating) the database; DatabaseUnusable says why it cannot be used."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def transaction(self, *, exclusive: bool = False) -> contextlib.AbstractAsyncContextManager[Tx]:
        """``async with store.transaction() as tx``: returns once what it wrote is committed; a failure rolls back
        its own writes. ``exclusive``: no other write transaction runs meanwhile, in any process (a full reset)."""

    @abstractmethod
    def failed(self, exc: BaseException) -> bool:
        """The store could not do its job now (disk full, I/O error, the server unreachable): the request is
        answered 503 with Retry-After and nothing it wrote was kept. Anything else is a bug."""

    @abstractmethod
    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    @abstractmethod
    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    @abstractmethod
    async def table_names(self) -> list[str]: ...

    @abstractmethod
    async def size_bytes(self) -> int:
        """How much room the data takes (the database file and its WAL; on a server, the database)."""

    @abstractmethod
    async def estimate_rows(self, table: str) -> int:
        """About how many rows ``table`` has, without counting a large table (exact while it is small)."""

    @abstractmethod
    async def clear(self, tx: Tx, *, keep: tuple[str, ...] = ("meta", "schema_migrations"),
                    keep_sequences: tuple[str, ...] = ()) -> None:
        """Delete every row of every table but ``keep`` (a full reset), inside ``tx``; id sequences start over
        except those of ``keep_sequences`` (tables whose ids other rows keep pointing at)."""

    def request_started(self) -> None:  # noqa: B027 - optional hook: a store without group commit ignores it
        """An HTTP request that may write has started (a store that groups commits waits for it, briefly)."""

    def request_finished(self) -> None:  # noqa: B027 - optional hook, as above
        """The request started above has been answered."""

    def describe(self) -> dict[str, Any]:
        """What GET /_sim/health shows of the store."""
        return {**self.stats, "backend": self.dialect, "durability": self.durability}


def _no_mark(due_at: int) -> int:
    return 0


def open_store(settings: Settings) -> Store:
    """The store ``settings.db`` names: a PostgreSQL URL, else a SQLite file (or :memory:)."""
    if is_postgres_url(settings.db):
        from simulator.core.postgres_store import PostgresStore

        return PostgresStore(settings.db, settings.durability)
    from simulator.core.sqlite_store import SqliteStore

    return SqliteStore(settings.db, settings.durability)

