"""The Simulation: everything one running simulator owns, hung off ``app.state.sim`` (no globals)."""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.core.clock import Clock, parse_rfc3339
from simulator.core.ids import Randomness
from simulator.core.outbox import DEFAULT_RETRY_SCHEDULE_S, Outbox, WebhookKnobs
from simulator.core.scheduler import Scheduler
from simulator.core.schemas import SchemaStore
from simulator.core.store import Store, Tx
from simulator.settings import Settings
from simulator.world import World, load_world

log = logging.getLogger("simulator")

ResetHook = Callable[[Tx, dict[str, str]], Awaitable[None]]


@dataclass
class Simulation:
    settings: Settings
    schemas: SchemaStore
    world: World
    clock: Clock
    store: Store
    scheduler: Scheduler
    outbox: Outbox
    random: Randomness
    media_dir: Path
    started_at: float = field(default_factory=time.monotonic)
    reset_hooks: list[ResetHook] = field(default_factory=list)
    open_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)  # after the store opened
    providers: dict[str, Any] = field(default_factory=dict)
    events: Any = None  # live event bus (simulator.control.events.EventBus), installed with the web UI
    _temp_media: bool = False
    start_ms: int = 0

    @classmethod
    def build(cls, settings: Settings, schemas: SchemaStore | None = None) -> Simulation:
        schemas = schemas or SchemaStore()
        world = load_world(schemas, settings.config)
        start_ms = parse_rfc3339(settings.start_time) if settings.start_time else None
        clock = Clock(settings.clock, settings.clock_speed, start_ms)
        store = Store(settings.db, settings.durability)
        scheduler = Scheduler(store, clock)
        seed = settings.seed if settings.seed else world.seed
        randomness = Randomness(seed)
        knobs = WebhookKnobs(
            duplicate_probability=float(world.webhooks.get("duplicate_probability", 0.0)),
            reorder=bool(world.webhooks.get("reorder", False)),
            extra_delay_s=float(world.webhooks.get("extra_delay_seconds", 0.0)),
        )
        outbox = Outbox(
            store, clock, scheduler, randomness.rng, timeout_s=settings.webhook_timeout,
            concurrency=settings.webhook_concurrency,
            retry_schedule_s=tuple(world.webhooks.get("retry_schedule_seconds") or DEFAULT_RETRY_SCHEDULE_S),
            knobs=knobs,
        )
        temp = False
        if settings.media_dir:
            media_dir = Path(settings.media_dir)
        elif settings.db == ":memory:":
            media_dir, temp = Path(tempfile.mkdtemp(prefix="provider-sim-media-")), True
        else:
            media_dir = Path(settings.db + ".media")
        sim = cls(settings=settings, schemas=schemas, world=world, clock=clock, store=store, scheduler=scheduler,
                  outbox=outbox, random=randomness, media_dir=media_dir, _temp_media=temp,
                  start_ms=clock.now_ms())
        return sim

    async def open(self) -> None:
        self.media_dir.mkdir(parents=True, exist_ok=True)
        await self.store.open()
        await self._restore_clock()
        for hook in self.open_hooks:
            await hook()
        await self.outbox.start()
        self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.stop()
        await self.save_clock()
        await self.outbox.close()
        await self.store.close()
        if self._temp_media:
            shutil.rmtree(self.media_dir, ignore_errors=True)

    async def _restore_clock(self) -> None:
        # A manual clock resumes where it stopped, so pending transitions keep their meaning across a restart.
        row = await self.store.fetch_one("SELECT value FROM meta WHERE key='clock_ms'")
        if row is not None and self.clock.manual:
            self.clock.set(int(row[0]))

    async def save_clock(self) -> None:
        if self.store._conn is None:
            return
        async with self.store.transaction() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('clock_ms', ?) ON CONFLICT(key) DO UPDATE SET"
                             " value=excluded.value", (str(self.clock.now_ms()),))

    async def advance(self, seconds: float) -> dict[str, Any]:
        result = await self.scheduler.advance(seconds)
        if self.clock.manual:
            await self.save_clock()
        return result

    async def reset(self, scope: dict[str, str] | None = None) -> dict[str, Any]:
        """Back to the seeded world: everything (no scope) or only what belongs to one scope.

        ``scope`` keys a provider understands, e.g. {"workspace": id}, {"channel": id}, {"business": id},
        {"customer": id}. A scoped reset leaves the clock and other scopes alone.
        """
        scope = scope or {}
        async with self.scheduler._run_lock:
            if not scope:
                # Ids start over: a delivery still in flight must not record its attempt on a new row's id.
                await self.outbox.cancel_in_flight()
            rng_state, clock_ms = self.random.rng.getstate(), self.clock.now_ms()
            try:
                async with self.store.transaction() as tx:
                    if not scope:
                        self.store.cache.forget()
                        for table in await self._tables(tx):
                            if table not in ("meta", "schema_migrations"):
                                await tx.execute(f"DELETE FROM {table}")  # noqa: S608 - names from sqlite_master
                        await tx.execute("DELETE FROM sqlite_sequence WHERE name NOT IN ('bird_messages')")
                    for hook in self.reset_hooks:
                        await hook(tx, scope)
                    if not scope:
                        # Still inside the transaction (holding the write lock): a request that writes after this
                        # one already draws ids from the reseeded sequence and reads the rewound clock. Done after
                        # the COMMIT, a send in between drew ids the new sequence later drew again (a 500 on
                        # bird_contacts.id) and stamped a time the world had not reached.
                        self._start_over()
            except BaseException:
                if not scope:  # the deletes were rolled back: so is the world's randomness and time
                    self.random.rng.setstate(rng_state)
                    if self.clock.manual:
                        self.clock.rewind(clock_ms)
                raise
        if not scope and self.clock.manual:
            await self.save_clock()
        return {"reset": scope or "all", "clock": self.clock.describe()}

    def _start_over(self) -> None:
        self.random.reseed()
        if self.clock.manual:
            self.clock.rewind(self.start_ms)
        for provider in self.providers.values():
            on_reset = getattr(provider, "on_full_reset", None)
            if on_reset is not None:
                on_reset()

    async def _tables(self, tx: Tx) -> list[str]:
        rows = await tx.fetch_all("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        return [r[0] for r in rows]

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_at
