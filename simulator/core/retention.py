"""Retention: what accumulates (messages, deliveries, attachments, ...) is removed once it is older than its kind's
retention, in simulator time, so a server that runs for weeks keeps a bounded database.

Each provider declares its kinds (``Provider.retention_kinds()``), core declares the outbox's; this module runs
them. A sweep never holds up serving: a step selects at most ``BATCH`` due rows through an index on the kind's
time column (oldest first) and deletes them and what depends on them in one short transaction; between steps the
sweep sleeps as long as the step took, so requests get at least half the event loop while it works. A step runs on
the event loop (as all SQL here does), so a kind whose rows are dear to delete (large rows, many dependents, a busy
host) takes fewer rows a step: each kind's step size follows the time its steps take, towards ``STEP_TARGET_S``.
When nothing is due a kind costs one indexed probe. On PostgreSQL each step takes a transaction-level advisory lock
first: two processes on one database never delete at once, and one that finds the lock taken skips its round.

Settings: ``retention`` is a comma-separated list of ``kind=duration`` overrides (``30d``, ``12h``, ``90m``,
``45s``, a number of seconds; ``0`` keeps everything of that kind), ``*=duration`` for every kind, ``off`` for
``*=0``. ``retention_interval`` is the wall-clock time between rounds.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from simulator.core.clock import Clock
from simulator.core.store import Row, Store, Tx

log = logging.getLogger("simulator.retention")

BATCH = 200  # rows a step removes at most
MIN_BATCH = 8  # the fewest it shrinks to (a sweep must still outpace the traffic that fills the table)
STEP_TARGET_S = 0.010  # the time a step aims to hold the store (and the event loop) for
DAY_S = 86400.0
SWEEP_LOCK = 0x5E7E_0001  # PostgreSQL advisory lock: one sweeping process at a time
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY_S}


@dataclass(frozen=True)
class Dependent:
    """Rows of ``table`` whose ``column`` holds the ``parent`` column's value of a removed row: removed with it."""

    table: str
    column: str
    parent: str


@dataclass(frozen=True)
class RetentionKind:
    """Something that accumulates: rows of ``table`` whose ``time_column`` (epoch ms, indexed, together with
    ``where`` if the index is partial) is older than the kind's retention go, ``key`` naming each row."""

    name: str  # "<provider>.<what>": the setting's key and the metrics' label
    table: str
    time_column: str
    default_s: float
    key: tuple[str, ...] = ("id",)
    where: str = ""  # the condition a partial index has (rows that may never go are not in it)
    dependents: tuple[Dependent, ...] = ()
    # Called in the step's transaction with the removed rows (key columns, then the dependents' parent columns):
    # what lives outside these tables (files) or in tables only one store has.
    removed: Callable[[Tx, list[Row]], Awaitable[None]] | None = None
    summary: str = ""

    def columns(self) -> tuple[str, ...]:
        extra = tuple(dict.fromkeys(d.parent for d in self.dependents if d.parent not in self.key))
        return self.key + extra


class RetentionSettingError(ValueError):
    """The retention setting does not parse, or names a kind no one declared."""


def parse_duration(text: str) -> float:
    """``30d`` / ``12h`` / ``90m`` / ``45s`` / ``3600`` -> seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise RetentionSettingError(f"not a duration: {text!r} (a number of seconds, or with a unit: 45s, 90m, 12h,"
                                    " 30d)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def parse_setting(text: str) -> dict[str, float]:
    """``"bird.messages=7d,outbox=1d"`` -> {kind: seconds}; ``"*"`` stands for every kind, ``"off"`` for ``*=0``."""
    text = text.strip()
    if text.lower() in {"off", "none", "keep"}:
        return {"*": 0.0}
    overrides: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise RetentionSettingError(f"{part!r} is not kind=duration (e.g. bird.messages=30d, *=7d, off)")
        overrides[name.strip()] = parse_duration(value)
    return overrides


@dataclass
class _Counts:
    removed: int = 0
    steps: int = 0
    longest_step_s: float = 0.0  # the longest a step held the store (what a request may have waited)
    batch: int = BATCH  # rows the next step takes (follows the time steps take)


@dataclass
class Retention:
    store: Store
    clock: Clock
    setting: str = ""
    interval_s: float = 10.0
    batch: int = BATCH
    kinds: dict[str, RetentionKind] = field(default_factory=dict)
    sweeps: int = 0  # rounds run to their end
    counts: dict[str, _Counts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.overrides = parse_setting(self.setting)
        self._round = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def add(self, kind: RetentionKind) -> None:
        if kind.name in self.kinds:
            raise ValueError(f"retention kind {kind.name!r} is declared twice")
        self.kinds[kind.name] = kind
        self.counts[kind.name] = _Counts(batch=self.batch)

    def check(self) -> None:
        """A setting that names no declared kind is a typo: refused at start, with the kinds there are."""
        unknown = sorted(set(self.overrides) - set(self.kinds) - {"*"})
        if unknown:
            raise RetentionSettingError(f"unknown kind(s) {', '.join(unknown)}; the kinds are"
                             f" {', '.join(sorted(self.kinds))}")

    def retention_s(self, name: str) -> float:
        if name in self.overrides:
            return self.overrides[name]
        return self.overrides.get("*", self.kinds[name].default_s)

    @property
    def active(self) -> bool:
        return any(self.retention_s(name) > 0 for name in self.kinds)

    # -- the background loop --------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.active and self._task is None and self.interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.store.failed(exc):
                    log.warning("retention sweep: the store refused (%s); retrying next round", exc)
                else:
                    log.exception("retention sweep failed; retrying next round")

    # -- sweeping ---------------------------------------------------------------------------------------------------

    async def sweep(self) -> dict[str, int]:
        """One round over every kind: remove what is due, step by step. Returns the rows removed per kind (a round
        another process of the fleet is running meanwhile removes nothing here)."""
        removed: dict[str, int] = {}
        async with self._round:
            for name, kind in self.kinds.items():
                keep_s = self.retention_s(name)
                if keep_s <= 0:
                    continue
                total = 0
                counts = self.counts[name]
                while True:
                    cutoff = self.clock.now_ms() - int(keep_s * 1000)
                    batch = counts.batch
                    step = await self._step(kind, cutoff, batch)
                    if step is None:  # another process holds the sweep lock: it does this round
                        return removed
                    got, took = step
                    counts.batch = self._next_batch(batch, took)
                    total += got
                    if got < batch:
                        break
                    # Requests get the loop for at least as long as the step had it.
                    await asyncio.sleep(max(0.001, took))
                removed[name] = total
            self.sweeps += 1
        return removed

    def _next_batch(self, batch: int, took_s: float) -> int:
        """The next step's size: scaled down to the target when a step took longer, doubled (up to ``batch``)
        when it took under half of it."""
        if took_s > STEP_TARGET_S:
            return max(MIN_BATCH, min(batch - 1, int(batch * STEP_TARGET_S / took_s)))
        if took_s < STEP_TARGET_S / 2:
            return min(self.batch, batch * 2)
        return batch

    async def _step(self, kind: RetentionKind, cutoff: int, batch: int) -> tuple[int, float] | None:
        """Up to ``batch`` due rows removed: (rows selected, seconds the step held the store); None when another
        process holds the sweep lock."""
        columns = kind.columns()
        condition = f"{kind.where} AND " if kind.where else ""
        select = (f"SELECT {', '.join(kind.key)} FROM {kind.table} WHERE {condition}{kind.time_column} < ?"  # noqa: S608 - declared names
                  f" ORDER BY {kind.time_column} LIMIT ?")
        async with self.store.transaction() as tx:
            started = time.perf_counter()  # from here on the step holds the store (waiting for it does not count)
            if not await tx.try_lock(SWEEP_LOCK):
                return None
            keys = await tx.fetch_all(select, (cutoff, batch))
            if not keys:
                return 0, time.perf_counter() - started
            # The time column is checked again: a row can have moved on since it was selected (a conversation with
            # a new message, written by another process of the fleet meanwhile).
            width = len(kind.key)
            if width == 1:
                matching = f"{kind.key[0]} IN ({', '.join('?' * len(keys))})"
            else:
                row_marks = "(" + ", ".join("?" * width) + ")"
                matching = f"({', '.join(kind.key)}) IN (VALUES {', '.join([row_marks] * len(keys))})"
            gone = await tx.fetch_all(
                f"DELETE FROM {kind.table} WHERE {condition}{kind.time_column} < ? AND {matching}"  # noqa: S608 - declared names
                f" RETURNING {', '.join(columns)}", (cutoff, *(row[i] for row in keys for i in range(width))))
            for dep in kind.dependents:
                values = sorted({row[columns.index(dep.parent)] for row in gone})
                if values:
                    await tx.execute(f"DELETE FROM {dep.table} WHERE {dep.column} IN"  # noqa: S608 - declared names
                                     f" ({', '.join('?' * len(values))})", values)
            if kind.removed is not None and gone:
                await kind.removed(tx, gone)
        took = time.perf_counter() - started
        counts = self.counts[kind.name]
        counts.removed += len(gone)
        counts.steps += 1
        counts.longest_step_s = max(counts.longest_step_s, took)
        return len(keys), took

    # -- inspection ---------------------------------------------------------------------------------------------------

    async def describe(self) -> dict[str, object]:
        kinds = []
        for name, kind in self.kinds.items():
            kinds.append({"kind": name, "table": kind.table, "retentionSeconds": self.retention_s(name),
                          "defaultSeconds": kind.default_s, "rows": await self.store.estimate_rows(kind.table),
                          "removed": self.counts[name].removed, "steps": self.counts[name].steps,
                          "longestStepMs": round(self.counts[name].longest_step_s * 1000, 1),
                          "stepRows": self.counts[name].batch,
                          "summary": kind.summary})
        return {"intervalSeconds": self.interval_s, "sweeps": self.sweeps, "running": self._task is not None,
                "kinds": kinds}

    def removed_counts(self) -> Sequence[tuple[str, int]]:
        return [(name, c.removed) for name, c in self.counts.items()]
