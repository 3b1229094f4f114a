"""The journal on PostgreSQL: a capped table every process writes to and reads (migration postgresql/0003).

A request's entry is kept in the process for a moment and written with the others of that moment in one
statement (a flush), off the request's path; a read or a wait flushes first, so a client sees its own requests.
The table keeps the newest ``size`` entries by sequence number: each flush deletes what fell below. Entries are
numbered by a sequence of their own that a full reset does not restart, as the in-process journal's numbers carry
on across resets.

While PostgreSQL is unreachable, entries wait in the process (the newest ``size`` of them) and go out once it is
back; the journal is a diagnostic record, so an entry is never a reason to answer a request with an error.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import orjson

from simulator.core.codec import dumps, loads
from simulator.core.events import EventBus, JournalEntryAdded
from simulator.core.journal import Journal, _Lazy, matches
from simulator.core.store import Store

log = logging.getLogger("simulator.journal")

FLUSH_AFTER_S = 0.02  # entries of the same few milliseconds share one INSERT
RETRY_AFTER_S = 1.0  # after the store could not take a flush
_ROWS_PER_STATEMENT = 2000  # 4 parameters a row, well under PostgreSQL's 65,535 per statement


class StoredJournal(Journal):
    """The Journal interface over the ``journal`` table."""

    # A waiter also looks again this often: another process may have added what it waits for.
    poll_s: ClassVar[float | None] = 0.25

    def __init__(self, store: Store, size: int = 2000, events: EventBus | None = None) -> None:
        super().__init__(size=size, events=events or EventBus())
        self.store = store
        self._pending: list[Pending] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._flushing = asyncio.Lock()
        self._capped_below = 0  # every seq up to this one is known deleted by the cap

    # -- writing -------------------------------------------------------------------------------------------------
    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        self._keep(entry)
        return entry

    def append_lazy(self, kind: str, provider: str | None, build: Callable[[], dict[str, Any]]) -> None:
        self._keep(_Lazy(0, build))

    def append_record(self, kind: str, provider: str | None, builder: str, record: tuple[Any, ...]) -> None:
        # Kept as the record, built when read (in whichever process reads it): building costs more than the rest
        # of journaling a request, and most entries of a load test are never read.
        self._keep((kind, provider, builder, record))

    def _keep(self, item: Pending) -> None:
        self._pending.append(item)
        if len(self._pending) > self.size:  # PostgreSQL has been away for a while: the bound holds here too
            del self._pending[0]
            self.dropped += 1
        self._schedule(FLUSH_AFTER_S)

    def _schedule(self, delay_s: float) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # appended outside the loop (a test's direct call): the next read flushes
            return
        self._timer = loop.call_later(delay_s, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush_logged())
        self._tasks.add(task)  # the loop holds tasks only weakly
        task.add_done_callback(self._tasks.discard)

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception:
            log.exception("journal flush failed")

    async def flush(self) -> None:
        """Write every entry kept so far; on a store that cannot write they stay for the next try."""
        async with self._flushing:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            rows = [_row(item) for item in batch]
            try:
                seqs = await self._insert(rows)
            except Exception as exc:
                if not self.store.failed(exc):
                    raise
                self._pending[:0] = [_unwritten(row) for row in rows]
                overflow = len(self._pending) - self.size
                if overflow > 0:
                    del self._pending[:overflow]
                    self.dropped += overflow
                self._schedule(RETRY_AFTER_S)
                return
        for seq, row in zip(seqs, rows, strict=True):
            self.seq = max(self.seq, seq)
            if self.events.listening(JournalEntryAdded):
                self.events.publish(JournalEntryAdded(seq, row[0], row[1]))
        self._notify()

    async def _insert(self, rows: list[Row]) -> list[int]:
        seqs: list[int] = []
        async with self.store.transaction() as tx:
            for start in range(0, len(rows), _ROWS_PER_STATEMENT):
                chunk = rows[start:start + _ROWS_PER_STATEMENT]
                params = [value for row in chunk for value in row]
                # Sequence values are drawn in the order of the VALUES rows: sorted, they are the rows' numbers.
                found = await tx.fetch_all(
                    "INSERT INTO journal (kind, provider, entry) VALUES "  # noqa: S608 - placeholders only
                    + ", ".join(["(?, ?, ?)"] * len(chunk)) + " RETURNING seq", params)
                seqs += sorted(int(r[0]) for r in found)
            below = max(seqs) - self.size
            if below > self._capped_below:
                self.dropped += await tx.execute("DELETE FROM journal WHERE seq <= ?", (below,))
                self._capped_below = below
        return seqs

    # -- reading -------------------------------------------------------------------------------------------------
    async def query(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        await self.flush()
        rows = await self.store.fetch_all("SELECT seq, entry FROM journal ORDER BY seq DESC LIMIT ?", (self.size,))
        entries = []
        for row in reversed(rows):
            entry = self._entry(row[1])
            entry["seq"] = int(row[0])
            if matches(entry, filters):
                entries.append(entry)
        return entries

    def _entry(self, text: str) -> dict[str, Any]:
        stored: dict[str, Any] = loads(text)
        if RECORD in stored:
            return self.builders[stored[RECORD]](*stored["args"])
        return stored

    async def all(self) -> list[dict[str, Any]]:
        return await self.query({})

    async def stats(self) -> dict[str, int]:
        await self.flush()
        row = await self.store.fetch_one("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM journal_seq")
        return {"size": self.size, "dropped": self.dropped, "lastSeq": int(row[0]) if row is not None else self.seq}

    async def clear(self) -> int:
        count = len(self._pending)
        self._pending.clear()
        async with self.store.transaction() as tx:
            count += await tx.execute("DELETE FROM journal")
        self.dropped = 0
        self._notify()
        return count

    def forget(self) -> int:
        count = len(self._pending)
        self._pending.clear()
        self.dropped = 0
        self._notify()
        return count

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - shutting down with the store away: the entries are lost, say so
            log.warning("journal: %d entries not written at shutdown: %s", len(self._pending), exc)


RECORD = "$record"  # a stored row that holds a builder's name and arguments instead of a built entry
Pending = dict[str, Any] | _Lazy | tuple[str, str | None, str, tuple[Any, ...]]
Row = tuple[str, str | None, str]  # kind, provider, entry (JSON)


def _latin1(value: Any) -> str:
    """Bytes in a record as text, one character per byte (the builder takes either)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    raise TypeError(f"a journal record holds no {type(value).__name__}")


def _row(item: Pending) -> Row:
    if isinstance(item, tuple):
        kind, provider, builder, record = item
        stored = {RECORD: builder, "args": record}
        try:
            return kind, provider, orjson.dumps(stored, default=_latin1).decode()
        except orjson.JSONEncodeError:  # a lone surrogate from a path orjson refuses: json escapes it
            return kind, provider, json.dumps(stored, default=_latin1)
    entry = item.build() if isinstance(item, _Lazy) else dict(item)
    entry.pop("seq", None)
    return str(entry.get("kind") or ""), entry.get("provider"), dumps(entry)


def _unwritten(row: Row) -> Pending:
    """What a row that could not be written is kept as until the next try."""
    stored: dict[str, Any] = loads(row[2])
    if RECORD in stored:
        return row[0], row[1], stored[RECORD], tuple(stored["args"])
    return stored
