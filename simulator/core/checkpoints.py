"""WAL checkpoints for the store, on a second connection in aiosqlite's thread, so the event loop (where the
store's statements run) never copies pages itself. See docs/architecture.md ("How the store runs SQL")."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiosqlite

log = logging.getLogger("simulator.store")

CHECKPOINT_EVERY = 1000  # commits between background WAL checkpoints …
CHECKPOINT_ROWS = 20_000  # … or rows written: a 500-transition batch dirties ~1,000 pages …
CHECKPOINT_INTERVAL_S = 1.0  # … or this long while commits go on: few rows can be many pages (50 KB payloads)
RESTART_FRAMES = 8192  # WAL frames (32 MB) past which the WAL is made to restart (see Checkpointer.run)
CATCH_UP_PASSES = 4  # unpaused checkpoint passes before the paused one …
PAUSED_PASS_FRAMES = 1024  # … stopping early once this few frames are left to copy


class Checkpointer:
    """Decides when to checkpoint (after a COMMIT) and runs the passes; ``paused`` is the store's way to hold
    writers back (its write lock, with any pending group committed first)."""

    def __init__(self, path: str, stats: dict[str, int],
                 paused: Callable[[], AbstractAsyncContextManager[None]], *, synced: bool = False) -> None:
        self.path = path
        self.synced = synced
        self.stats = stats
        self._paused = paused
        self._conn: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._commits = 0
        self._changes_at_last = 0
        self._started_last = time.monotonic()

    async def open(self) -> None:
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        await self._conn.execute("PRAGMA busy_timeout=5000")
        # Checkpoints without fsync by default: on this VM the fsyncs were a third of an hour-long advance's wall
        # time, with writers waiting on the WAL-restart pass. A killed process loses nothing (the OS holds the
        # writes); an OS crash or power loss may lose or damage the db unless durability="full" asked for syncs.
        await self._conn.execute(f"PRAGMA synchronous={'FULL' if self.synced else 'OFF'}")

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def after_commit(self, total_changes: int) -> None:
        """Runs right after a COMMIT: start a background checkpoint every so many commits, rows or seconds."""
        self._commits += 1
        if (self._conn is None
                or (self._commits < CHECKPOINT_EVERY
                    and total_changes - self._changes_at_last < CHECKPOINT_ROWS
                    and time.monotonic() - self._started_last < CHECKPOINT_INTERVAL_S)
                or (self._task is not None and not self._task.done())):
            return
        self._commits = 0
        self._changes_at_last = total_changes
        self._started_last = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        """One checkpoint; writers go on meanwhile.

        Under continuous writes SQLite never restarts the WAL (a restart needs a write to begin when every frame
        has been copied back), so it grew to 1.8 GB in an hour-long advance and reads slowed as its index grew.
        Once it passes RESTART_FRAMES, unpaused passes catch up, then one last pass with writers paused
        (asynchronously: the event loop runs on) copies the rest and empties the WAL.
        """
        if self._conn is None:
            return
        try:
            log_frames, left = await self.checkpoint_pass()
            if log_frames >= RESTART_FRAMES:
                # Each pass copies what came in during the previous one, so the paused pass copies little (one
                # pass with writers paused was a 150-300 ms stall).
                for _ in range(CATCH_UP_PASSES):
                    if left <= PAUSED_PASS_FRAMES:
                        break
                    _, left = await self.checkpoint_pass()
                async with self._paused():
                    # TRUNCATE also empties the WAL file here, on aiosqlite's thread; left to the next write, a
                    # restart would cut the file down to journal_size_limit on the event loop (~150 ms at 150 MB).
                    await self.checkpoint_pass("TRUNCATE")
                    self.stats["wal_restarts"] += 1
        except sqlite3.Error as exc:  # busy or closing: the next one catches up
            log.debug("checkpoint skipped: %s", exc)

    async def checkpoint_pass(self, mode: str = "PASSIVE") -> tuple[int, int]:
        """One checkpoint pass: (frames in the WAL, frames of it not copied back yet)."""
        if self._conn is None:
            raise RuntimeError("the checkpointer is not open")
        # Stepped to the end and closed: a PRAGMA cursor left open keeps a read transaction on the WAL.
        async with self._conn.execute(f"PRAGMA wal_checkpoint({mode})") as cursor:
            _busy, log_frames, copied = await cursor.fetchone() or (0, 0, 0)
            await cursor.fetchall()
        self.stats["checkpoints"] += 1
        self.stats["wal_frames"] = int(log_frames)
        return int(log_frames), max(int(log_frames) - int(copied), 0)
