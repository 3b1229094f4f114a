"""Control-plane settings that must outlive a process where the store is a shared server (PostgreSQL): fault rules,
webhook knobs, the real clock's origin and speed, and what a provider keeps of its own (Bird's rate limits). They
are kept in the ``meta`` table, written through after each change and read back at start-up.

On SQLite, which one process owns, they stay in that process as they always have: a restart starts from the world
config. Both go through this interface; ``durable`` says which one a store has.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from simulator.core.fleet import Fleet
from simulator.core.store import Store

log = logging.getLogger("simulator.state")


class ControlState:
    def __init__(self, store: Store, fleet: Fleet | None = None) -> None:
        self.store = store
        self.fleet = fleet
        self._pending: dict[str, Callable[[], str]] = {}
        self._writer: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()  # one flush at a time: a flush returns once what was pending is written

    @property
    def durable(self) -> bool:
        return self.store.dialect == "postgresql"

    async def load(self, key: str) -> str | None:
        """What was saved under ``key`` (None if nothing was, or the store keeps no control state)."""
        if not self.durable:
            return None
        row = await self.store.fetch_one("SELECT value FROM meta WHERE key=?", (f"state:{key}",))
        return None if row is None else str(row[0])

    def changed(self, key: str, render: Callable[[], str]) -> None:
        """``key``'s value changed: ``render()`` is written soon (coalesced: a burst of changes is one write)."""
        if not self.durable:
            return
        self._pending[key] = render
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(0)  # let the request that changed it finish its own changes first
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - the store is down: the next change or start-up tries again
            log.warning("control state not saved yet: %s", exc)

    @property
    def pending(self) -> bool:
        """Changes not yet written, or being written now."""
        return bool(self._pending) or self._writing.locked()

    async def flush(self) -> None:
        """Write every pending change now (and tell the rest of a fleet, in the same transaction)."""
        async with self._writing:
            await self._flush()

    async def _flush(self) -> None:
        while self._pending:
            pending, self._pending = self._pending, {}
            async with self.store.transaction() as tx:
                for key, render in pending.items():
                    await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
                                     " value = excluded.value", (f"state:{key}", render()))
                if self.fleet is not None:
                    await self.fleet.bump(tx)

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
        with contextlib.suppress(Exception):
            await self.flush()
