"""A fleet: several processes (workers of one ``serve --workers N``, or ``serve`` commands on other hosts or ports)
on one PostgreSQL database acting as one simulator.

What each process keeps in memory for speed, it keeps coherent through the database:

* **Membership.** Each process registers in ``fleet_workers`` and beats there every ``HEARTBEAT_S``; one whose beat
  is older than ``STALE_MS`` is gone (kill -9, a lost host), and the due jobs it had claimed are taken over.
* **An epoch.** Every change other processes must see — control state (fault rules, webhook knobs, rate limits,
  settings, the real clock's origin), a reset, a write to a table the read cache keeps — bumps ``fleet:epoch`` in
  the transaction that makes it. Before serving a request (and before running due jobs) a process reads the epoch
  and the manual clock in one round trip; when the epoch moved, it reloads what it keeps (``reloaders``). So a
  change answered by one worker is seen by the next request on any worker.
* **One manual clock.** An advance moves ``clock_ms`` in one UPDATE (concurrent advances through two workers add
  up), other processes read it at their next request, and the advance returns once no job due by its target is
  left, whichever process ran it.

On SQLite one process owns the database and none of this runs (``active`` is False).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from simulator.core.clock import Clock
from simulator.core.codec import dumps, loads
from simulator.core.events import Event, EventBus, RemoteEvent
from simulator.core.store import Store, Tx

log = logging.getLogger("simulator.fleet")

EVENTS_CHANNEL = "provider_sim_events"
RELAY_EVERY_S = 0.05  # events of the same few milliseconds share one NOTIFY
NOTIFY_MAX = 7900  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
JOIN_LOCK = 0x7073696D_00000003  # beside postgres_store's RESET_LOCK and MIGRATE_LOCK
HEARTBEAT_S = 0.5
# A process silent this long (wall time) is gone. Wall time, not the simulator's: a test that advances the clock
# by hours must not make every running job look abandoned.
STALE_MS = 10_000

_SYNC = "SELECT (SELECT value FROM meta WHERE key='fleet:epoch'), (SELECT value FROM meta WHERE key='clock_ms')"
_BUMP = "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'fleet:epoch' RETURNING value"


def wall_ms() -> int:
    return int(time.time() * 1000)


def this_host() -> str:
    """This machine and PID namespace: processes with the same one can tell whether a pid is alive."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class Fleet:
    def __init__(self, store: Store, clock: Clock, lease_ms: int = STALE_MS) -> None:
        self.store = store
        self.clock = clock
        self.lease_ms = lease_ms
        self.host = this_host()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.epoch: int | None = None
        self.stream = 0
        # No other live member: nothing can change behind this process's back, so it skips the epoch check (one
        # round trip per request). Updated by each heartbeat; a process that joins others waits two heartbeats
        # before serving, so every member has seen it before it can change anything.
        self.alone = True
        self.first = True  # no other live member when this one joined
        # Called, in order, when another process changed what this one keeps in memory.
        self.reloaders: list[Callable[[], Awaitable[None]]] = []
        self._beat: asyncio.Task[None] | None = None
        self._reloading = asyncio.Lock()
        # The live stream (GET /_sim/events) of a fleet: each process's events go to the others' open streams.
        self.streams = 0  # open streams here
        self._bus: EventBus | None = None
        self._relaying: Callable[[], None] | None = None  # unsubscribes the relay; None while no one streams
        self._outgoing: list[tuple[str, dict[str, object]]] = []
        self._relay_timer: asyncio.TimerHandle | None = None
        self._stop_listening: Callable[[], Awaitable[None]] | None = None
        self._sending: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self.store.dialect == "postgresql"

    async def join(self) -> int:
        """Register; returns the random stream this process draws ids from (the lowest no live process uses)."""
        if not self.active:
            return 0
        now = wall_ms()
        async with self.store.transaction() as tx:
            await tx.execute(f"SELECT pg_advisory_xact_lock({JOIN_LOCK})")  # one joiner at a time picks a stream
            # Members silent for long are forgotten (their claims are taken over by the claim query regardless).
            await tx.execute("DELETE FROM fleet_workers WHERE beat_at < ?", (now - 60 * self.lease_ms,))
            await self._bury_dead_neighbours(tx)
            taken = {int(r[0]) for r in await tx.fetch_all("SELECT stream FROM fleet_workers WHERE beat_at >= ?",
                                                            (now - self.lease_ms,))}
            self.stream = next(n for n in range(len(taken) + 1) if n not in taken)
            self.alone = self.first = not taken
            await tx.execute("INSERT INTO fleet_workers (id, host, pid, started_at, beat_at, stream)"
                             " VALUES (?, ?, ?, ?, ?, ?)",
                             (self.worker_id, self.host, os.getpid(), now, now, self.stream))
        row = await self.store.fetch_one(_SYNC)
        self.epoch = int(row[0]) if row is not None and row[0] is not None else 0
        self._beat = asyncio.get_running_loop().create_task(self._beating(), name="fleet-heartbeat")
        if not self.first:
            await asyncio.sleep(2 * HEARTBEAT_S)  # until every member has seen this one (they check the epoch then)
        return self.stream

    async def relay(self, bus: EventBus) -> None:
        """Take part in the fleet's live stream: events of other processes reach this one's streams (``bus``),
        and this one's reach theirs while any of them has a stream open (the relay is off otherwise, so a
        fleet nobody watches builds no event for it)."""
        listen = getattr(self.store, "listen", None)
        if not self.active or listen is None:
            return
        self._bus = bus
        self._stop_listening = await listen(EVENTS_CHANNEL, self._arrived)

    def _arrived(self, payload: str) -> None:
        try:
            message = loads(payload)
        except ValueError:
            return
        if self._bus is None or not isinstance(message, dict) or message.get("w") == self.worker_id:
            return
        for stream, data in message.get("e", []):
            self._bus.publish(RemoteEvent(str(stream), data if isinstance(data, dict) else {}))

    def _relay_on(self, on: bool) -> None:
        if on and self._relaying is None and self._bus is not None:
            self._relaying = self._bus.subscribe(None, self._outgoing_event)
        elif not on and self._relaying is not None:
            self._relaying()
            self._relaying = None

    def _outgoing_event(self, event: Event) -> None:
        if isinstance(event, RemoteEvent) or not event.stream:
            return
        self._outgoing.append((event.stream, event.stream_data()))
        if self._relay_timer is None:
            self._relay_timer = asyncio.get_running_loop().call_later(RELAY_EVERY_S, self._send_soon)

    def _send_soon(self) -> None:
        self._relay_timer = None
        self._sending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        batch, self._outgoing = self._outgoing, []
        head = len(dumps({"w": self.worker_id, "e": []}))
        payloads: list[str] = []
        current: list[str] = []  # each item as JSON, joined into one payload below NOTIFY_MAX
        size = head
        for stream, data in batch:
            item = dumps([stream, data])
            if head + len(item) > NOTIFY_MAX:
                item = dumps(["resync", {"reason": "an event too large to relay"}])  # the page refetches
            if current and size + len(item) + 1 > NOTIFY_MAX:
                payloads.append(self._payload(current))
                current, size = [], head
            current.append(item)
            size += len(item) + 1
        if current:
            payloads.append(self._payload(current))
        try:
            async with self.store.transaction() as tx:
                for payload in payloads:
                    await tx.execute("SELECT pg_notify(?, ?)", (EVENTS_CHANNEL, payload))
        except Exception as exc:  # noqa: BLE001 - a live stream may miss events; it resyncs on reconnect
            log.warning("fleet: events not relayed: %s", exc)

    def _payload(self, items: list[str]) -> str:
        return f'{{"w":{dumps(self.worker_id)},"e":[{",".join(items)}]}}'

    async def leave(self) -> None:
        self._relay_on(False)
        if self._relay_timer is not None:
            self._relay_timer.cancel()
            self._relay_timer = None
        if self._stop_listening is not None:
            await self._stop_listening()
            self._stop_listening = None
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._beat
            self._beat = None
        if self.active and self.store.is_open:
            with contextlib.suppress(Exception):
                async with self.store.transaction() as tx:
                    # Its claims go back at once: a clean stop leaves nothing waiting for a stale beat.
                    await tx.execute("UPDATE jobs SET claimed_by = NULL WHERE claimed_by = ?", (self.worker_id,))
                    await tx.execute("DELETE FROM fleet_workers WHERE id = ?", (self.worker_id,))

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                async with self.store.transaction() as tx:
                    now = wall_ms()
                    await self._bury_dead_neighbours(tx)
                    others = await tx.fetch_one("SELECT COUNT(*), COALESCE(SUM(streams), 0) FROM fleet_workers"
                                                " WHERE id != ? AND beat_at >= ?",
                                                (self.worker_id, now - self.lease_ms))
                    self.alone = others is None or int(others[0]) == 0
                    self._relay_on(others is not None and int(others[1]) > 0)
                    if not await tx.execute("UPDATE fleet_workers SET beat_at = ?, streams = ? WHERE id = ?",
                                            (now, self.streams, self.worker_id)):
                        await tx.execute("INSERT INTO fleet_workers (id, host, pid, started_at, beat_at, stream)"
                                         " VALUES (?, ?, ?, ?, ?, ?)",
                                         (self.worker_id, self.host, os.getpid(), now, now,
                                          self.stream))
            except Exception as exc:  # noqa: BLE001 - the database is down: beat again when it is back
                log.warning("fleet heartbeat failed: %s", exc)

    async def _bury_dead_neighbours(self, tx: Tx) -> None:
        """Members on this host whose process is gone (kill -9, a restart) leave at once: their claims are taken
        over now, not when their lease runs out. Members elsewhere only leave by going silent."""
        rows = await tx.fetch_all("SELECT id, pid FROM fleet_workers WHERE host = ? AND id != ?",
                                  (self.host, self.worker_id))
        dead = [r[0] for r in rows if not _alive(int(r[1]))]
        for worker in dead:
            await tx.execute("DELETE FROM fleet_workers WHERE id = ?", (worker,))

    def stale_before(self) -> int:
        """Claims of a process whose last beat is older than this (wall ms) are taken over."""
        return wall_ms() - self.lease_ms

    async def sync(self) -> None:
        """Catch up with the fleet: the manual clock, and what changed since the last look (one round trip)."""
        if not self.active or self.epoch is None or self.alone:
            return
        row = await self.store.fetch_one(_SYNC)
        if row is None:
            return
        if self.clock.manual and row[1] is not None:
            self.clock.set(int(row[1]))  # forward only: a rewind comes with an epoch (a full reset)
        epoch = int(row[0]) if row[0] is not None else 0
        if epoch != self.epoch:
            async with self._reloading:
                if epoch != self.epoch:
                    self.epoch = epoch
                    if self.clock.manual and row[1] is not None:
                        self.clock.rewind(int(row[1]))
                        self.clock.set(int(row[1]))
                    for reload in self.reloaders:
                        await reload()

    async def bump(self, tx: Tx) -> None:
        """Tell the fleet, with this transaction, that something it keeps in memory changed."""
        if not self.active:
            return
        row = await tx.fetch_one(_BUMP)
        if row is None:
            return
        new = int(row[0])
        known = self.epoch

        def seen() -> None:
            # Our own change needs no reload, unless another process bumped in between (then we missed its change).
            if known is not None and self.epoch == known and new == known + 1:
                self.epoch = new

        tx.after_commit.append(seen)

    async def advance_clock(self, delta_ms: int, at_least_ms: int) -> int:
        """Move the shared manual clock forward by ``delta_ms`` in one statement and return the new time: two
        advances through two processes add up. ``at_least_ms``: this process's reading (a clock never goes back)."""
        async with self.store.transaction() as tx:
            row = await tx.fetch_one(
                "INSERT INTO meta (key, value) VALUES ('clock_ms', ?) ON CONFLICT (key) DO UPDATE SET value ="
                " (GREATEST(meta.value::bigint, ?::bigint) + ?::bigint)::text RETURNING value",
                (str(at_least_ms + delta_ms), at_least_ms, delta_ms))
        return int(row[0]) if row is not None else at_least_ms + delta_ms

    async def take_fault_hit(self, rule_id: str, times: int) -> bool:
        """One of a rule's ``times`` hits, taken exactly once fleet-wide; False once they are all taken."""
        async with self.store.transaction() as tx:
            row = await tx.fetch_one(
                "INSERT INTO fault_hits (rule_id, hits) VALUES (?, 1) ON CONFLICT (rule_id) DO UPDATE SET"
                " hits = fault_hits.hits + 1 WHERE fault_hits.hits < ? RETURNING hits", (rule_id, times))
        return row is not None and int(row[0]) <= times

    async def take_window_slot(self, key: str, window: int, limit: int) -> bool:
        """One of ``limit`` slots of ``key`` in ``window`` (a rate limit's second), taken once fleet-wide: a new
        window starts the count again, in the same statement."""
        async with self.store.transaction() as tx:
            row = await tx.fetch_one(
                "INSERT INTO fleet_window_counts (key, window_id, used) VALUES (?, ?, 1) ON CONFLICT (key) DO UPDATE"
                " SET used = CASE WHEN fleet_window_counts.window_id = excluded.window_id"
                " THEN fleet_window_counts.used + 1 ELSE 1 END, window_id = excluded.window_id"
                " WHERE fleet_window_counts.window_id != excluded.window_id OR fleet_window_counts.used < ?"
                " RETURNING used", (key, window, limit))
        return row is not None

    async def members(self) -> list[dict[str, object]]:
        if not self.active:
            return []
        stale = self.stale_before()
        rows = await self.store.fetch_all("SELECT id, host, pid, started_at, beat_at FROM fleet_workers"
                                          " ORDER BY started_at, id")
        return [{"id": r[0], "host": r[1], "pid": r[2], "startedAt": r[3], "live": int(r[4]) >= stale,
                 "self": r[0] == self.worker_id} for r in rows]
