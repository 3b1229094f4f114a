"""The Simulation: everything one running simulator owns, hung off ``app.state.sim`` (no globals)."""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.core.clock import Clock, parse_rfc3339
from simulator.core.coverage import TABLE as COVERAGE_TABLE
from simulator.core.coverage import Coverage
from simulator.core.deliveries import RETENTION as OUTBOX_RETENTION
from simulator.core.events import ClockMoved, EventBus, WebhookAttempted, WorldReset
from simulator.core.faults import Faults
from simulator.core.fleet import Fleet
from simulator.core.ids import Randomness
from simulator.core.journal import Journal
from simulator.core.knobs import WebhookKnobs
from simulator.core.metrics import Metrics
from simulator.core.outbox import DEFAULT_RETRY_SCHEDULE_S, Outbox
from simulator.core.provider import Provider, Providers
from simulator.core.retention import Retention
from simulator.core.scheduler import Scheduler
from simulator.core.schemas import SchemaStore
from simulator.core.state import ControlState
from simulator.core.store import Store, is_postgres_url, open_store
from simulator.core.stored_journal import StoredJournal
from simulator.core.urls import UrlRule
from simulator.settings import Settings
from simulator.world import World, load_world

log = logging.getLogger("simulator")


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
    events: EventBus
    journal: Journal
    faults: Faults
    initial_knobs: WebhookKnobs  # what a full reset (and DELETE /_sim/faults) restores
    initial_seed: int  # what a full reset returns to unless it is given another seed
    state: ControlState  # fault rules, knobs, the clock's origin: saved where the store keeps control state
    coverage: Coverage  # which behaviours of each provider occurred (GET /_sim/coverage)
    fleet: Fleet  # the other processes on the same PostgreSQL database (inactive on SQLite)
    retention: Retention  # removes what accumulates once older than its kind's retention
    providers: Providers = field(default_factory=Providers)
    metrics: Metrics = field(default_factory=Metrics)  # GET /_sim/metrics
    started_at: float = field(default_factory=time.monotonic)
    start_ms: int = 0
    _temp_media: bool = False

    @classmethod
    def build(cls, settings: Settings, schemas: SchemaStore | None = None) -> Simulation:
        schemas = schemas or SchemaStore()
        world = load_world(schemas, settings.config)
        start_ms = parse_rfc3339(settings.start_time) if settings.start_time else None
        clock = Clock(settings.clock, settings.clock_speed, start_ms)
        store = open_store(settings)
        fleet = Fleet(store, clock, round(settings.fleet_lease_seconds * 1000))
        scheduler = Scheduler(store, clock, fleet)
        seed = settings.seed if settings.seed else world.seed
        randomness = Randomness(seed)
        events = EventBus()
        knobs = WebhookKnobs(
            duplicate_probability=float(world.webhooks.get("duplicate_probability", 0.0)),
            reorder=bool(world.webhooks.get("reorder", False)),
            delay_s=float(world.webhooks.get("extra_delay_seconds", 0.0)),
        )
        outbox = Outbox(
            store, clock, scheduler, randomness.rng, timeout_s=settings.webhook_timeout,
            concurrency=settings.webhook_concurrency,
            retry_schedule_s=tuple(world.webhooks.get("retry_schedule_seconds") or DEFAULT_RETRY_SCHEDULE_S),
            knobs=knobs, events=events, url_rule=UrlRule.from_settings(settings),
        )
        journal = (StoredJournal(store, size=settings.journal_size, events=events) if store.dialect == "postgresql"
                   else Journal(size=settings.journal_size, events=events))
        events.subscribe(WebhookAttempted, journal.record_attempt)
        metrics = Metrics()
        events.subscribe(WebhookAttempted, metrics.webhook_attempted)
        state = ControlState(store, fleet)
        retention = Retention(store, clock, settings.retention, settings.retention_interval)
        retention.add(OUTBOX_RETENTION)

        def faults_changed() -> None:
            state.changed("faults", faults.dumps)

        faults = Faults(randomness.rng, on_change=faults_changed)
        temp = False
        if settings.media_dir:
            media_dir = Path(settings.media_dir)
        elif settings.db == ":memory:" or is_postgres_url(settings.db):
            media_dir, temp = Path(tempfile.mkdtemp(prefix="provider-sim-media-")), True
        else:
            media_dir = Path(settings.db + ".media")
        return cls(settings=settings, schemas=schemas, world=world, clock=clock, store=store, scheduler=scheduler,
                   outbox=outbox, random=randomness, media_dir=media_dir, events=events, journal=journal,
                   faults=faults, initial_knobs=knobs.snapshot(), initial_seed=seed, state=state, fleet=fleet,
                   coverage=Coverage(store), retention=retention, metrics=metrics, _temp_media=temp,
                   start_ms=clock.now_ms())

    def install(self, provider: Provider) -> None:
        """Add a provider: its job kinds join the scheduler, its name the fault rules' vocabulary."""
        self.providers.add(provider)
        for kind, job in provider.job_kinds().items():
            self.scheduler.register(kind, job.handler, spans_times=job.spans_times)
        self.faults.providers = self.providers.names()
        self.coverage.install(provider)
        for kept in provider.retention_kinds():
            self.retention.add(kept)

    async def open(self) -> None:
        self.retention.check()  # a setting naming no kind is refused before anything is opened
        self.media_dir.mkdir(parents=True, exist_ok=True)
        await self.store.open()
        await self._restore_clock()
        for provider in self.providers:
            await provider.open()
        await self._restore_control_state()
        if self.fleet.active:
            self.random.reseed(stream=await self.fleet.join())
            self.fleet.reloaders.append(self._reload_from_fleet)
            await self._share_start()
            await self.fleet.relay(self.events)
        await self.outbox.start()
        self.scheduler.start()
        self.metrics.start()
        self.retention.start()

    async def close(self) -> None:
        await self.retention.stop()
        await self.metrics.stop()
        await self.scheduler.stop()
        await self.save_clock()
        await self.fleet.leave()
        await self.coverage.close()
        await self.state.close()
        await self.outbox.close()
        await self.journal.close()
        await self.store.close()
        if self._temp_media:
            shutil.rmtree(self.media_dir, ignore_errors=True)

    async def _restore_clock(self) -> None:
        # A manual clock resumes where it stopped, so pending transitions keep their meaning across a restart.
        row = await self.store.fetch_one("SELECT value FROM meta WHERE key='clock_ms'")
        if row is not None and self.clock.manual:
            self.clock.set(int(row[0]))
        saved = await self.state.load("clock")
        if saved is not None and not self.clock.manual:
            # A real clock carries on from where the last process left it (at its speed until now), then runs at
            # this process's speed: a sped-up world does not jump back to wall time on a restart.
            origin = json.loads(saved)
            elapsed = max(0, int(time.time() * 1000) - int(origin["wallMs"]))
            self.clock.set(int(origin["simMs"]) + int(elapsed * float(origin["speed"])))
        self._real_clock_origin()

    def _real_clock_origin(self) -> None:
        if not self.clock.manual:
            self.state.changed("clock", lambda: json.dumps({"simMs": self.clock.now_ms(),
                                                            "wallMs": int(time.time() * 1000),
                                                            "speed": self.clock.speed}))

    async def _restore_control_state(self) -> None:
        saved = await self.state.load("faults")
        if saved is not None:
            self.faults.loads(saved)
        saved = await self.state.load("webhooks")
        if saved is not None:
            self.outbox.knobs.update(json.loads(saved))

    async def _share_start(self) -> None:
        """A fleet's world starts at one time (where a full reset takes the manual clock back), the first process's,
        and has one manual clock: a process joining others reads both."""
        async with self.store.transaction() as tx:
            if self.fleet.first:
                await tx.execute("INSERT INTO meta (key, value) VALUES ('fleet:start_ms', ?) ON CONFLICT (key)"
                                 " DO UPDATE SET value = excluded.value", (str(self.start_ms),))
                if self.clock.manual:
                    await tx.execute("INSERT INTO meta (key, value) VALUES ('clock_ms', ?) ON CONFLICT (key) DO"
                                     " UPDATE SET value = GREATEST(meta.value::bigint, excluded.value::bigint)::text",
                                     (str(self.clock.now_ms()),))
                return
            row = await tx.fetch_one("SELECT (SELECT value FROM meta WHERE key = 'fleet:start_ms'),"
                                     " (SELECT value FROM meta WHERE key = 'clock_ms')")
        if row is not None and row[0] is not None:
            self.start_ms = int(row[0])
        if row is not None and row[1] is not None and self.clock.manual:
            self.clock.rewind(int(row[1]))

    async def _reload_from_fleet(self) -> None:
        """Another process of the fleet changed what this one keeps in memory: read it all again."""
        self.store.cache.forget()
        saved = await self.state.load("faults")
        if saved is not None:
            self.faults.loads(saved)
        else:
            self.faults.rules, self.faults.counter = [], 0
        saved = await self.state.load("webhooks")
        self.outbox.knobs.restore(self.initial_knobs)
        if saved is not None:
            self.outbox.knobs.update(json.loads(saved))
        for provider in self.providers:
            await provider.reload()

    def knobs_changed(self) -> None:
        """The webhook knobs changed (control plane, reset): saved where the store keeps control state."""
        self.state.changed("webhooks", lambda: json.dumps(self.outbox.knobs.to_dict()))

    async def save_clock(self, *, rewind: bool = False) -> None:
        if not self.store.is_open:
            return
        async with self.store.transaction() as tx:
            if self.fleet.active and not rewind:  # never back: another process may have advanced it further
                await tx.execute("INSERT INTO meta (key, value) VALUES ('clock_ms', ?) ON CONFLICT(key) DO UPDATE SET"
                                 " value = GREATEST(meta.value::bigint, excluded.value::bigint)::text",
                                 (str(self.clock.now_ms()),))
            else:
                await tx.execute("INSERT INTO meta (key, value) VALUES ('clock_ms', ?) ON CONFLICT(key) DO UPDATE"
                                 " SET value=excluded.value", (str(self.clock.now_ms()),))

    async def advance(self, seconds: float) -> dict[str, Any]:
        result = await self.scheduler.advance(seconds)
        if self.clock.manual:
            await self.save_clock()
        self._clock_moved()
        return result

    def _clock_moved(self) -> None:
        if self.events.listening(ClockMoved):
            now = self.clock.now_ms()
            self.events.publish(ClockMoved(now, self.clock.now_iso(), self.clock.mode))

    async def reset(self, scope: dict[str, str] | None = None, *, seed: int | None = None) -> dict[str, Any]:
        """Back to the seeded world: everything (no scope) or only what belongs to one scope.

        ``scope`` keys a provider understands, e.g. {"workspace": id}, {"channel": id}, {"business": id},
        {"customer": id}. A scoped reset leaves the clock and other scopes alone. A full reset returns to the
        initial seed, or to ``seed``.
        """
        scope = scope or {}
        async with self.scheduler.exclusive():
            if not scope:
                # Ids start over: a delivery still in flight must not record its attempt on a new row's id.
                await self.outbox.cancel_in_flight()
            rng_state, clock_ms, old_seed = self.random.rng.getstate(), self.clock.now_ms(), self.random.seed
            try:
                async with self.store.transaction(exclusive=not scope) as tx:
                    if not scope:
                        keep = tuple(t for p in self.providers for t in p.durable_sequences)
                        # The behaviour counts belong to the test run, not to the world: they stay.
                        await self.store.clear(tx, keep=("meta", "schema_migrations", COVERAGE_TABLE,
                                                         "fleet_workers"), keep_sequences=keep)
                    for provider in self.providers:
                        await provider.reset_scope(tx, scope)
                    if not scope:
                        # Still inside the transaction (holding the write lock): a request that writes after this
                        # one already draws ids from the reseeded sequence and reads the rewound clock. Done after
                        # the COMMIT, a send in between drew ids the new sequence later drew again (a 500 on
                        # bird_contacts.id) and stamped a time the world had not reached.
                        self._start_over(self.initial_seed if seed is None else seed)
                    await self.events.emit(tx, WorldReset(tuple(sorted(scope.items()))))
                    if not scope and self.fleet.active and self.clock.manual:
                        # The rewound clock goes with the reset: another process reads both at once.
                        await tx.execute("UPDATE meta SET value = ? WHERE key = 'clock_ms'", (str(self.start_ms),))
                    await self.fleet.bump(tx)
            except BaseException:
                if not scope:  # the deletes were rolled back: so is the world's randomness and time
                    self.random.seed = old_seed
                    self.random.rng.setstate(rng_state)
                    if self.clock.manual:
                        self.clock.rewind(clock_ms)
                raise
        if not scope and self.clock.manual:
            await self.save_clock(rewind=True)
            self._clock_moved()
        result: dict[str, Any] = {"reset": scope or "all", "clock": self.clock.describe()}
        if not scope:
            result["seed"] = self.random.seed
        return result

    def _start_over(self, seed: int) -> None:
        self.random.reseed(seed)
        if self.clock.manual:
            self.clock.rewind(self.start_ms)
        self.faults.clear()
        self.journal.forget()
        self.outbox.knobs.restore(self.initial_knobs)
        self.knobs_changed()
        for provider in self.providers:
            provider.after_full_reset()

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_at

