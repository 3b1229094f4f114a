"""Due-time jobs persisted in SQLite and run on the simulator's clock.

A job is written in the same transaction as the state change that causes it, so a restart loses none.
Handlers receive batches of jobs of one kind and must delete them (``done``) inside their own transaction:
that makes "state changed" and "job consumed" one atomic step.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from simulator.core.clock import Clock
from simulator.core.codec import dumps, loads
from simulator.core.fleet import Fleet
from simulator.core.store import Store, Tx

log = logging.getLogger("simulator.scheduler")

BATCH = 500
# How long the loop waits at most for a wake in a fleet: another process's jobs may fall to this one (its lease ran
# out) or fall due on a clock another process moved.
FLEET_POLL_S = 1.0
# A fleet claims due jobs (core/fleet.py): due, not left for the next run, and free, its own, or held by a process
# whose beat is stale; SKIP LOCKED lets concurrent claims pass each other; the MATERIALIZED CTE fences the LIMIT.
_CLAIM = (
    "WITH c AS MATERIALIZED (SELECT id FROM jobs WHERE due_at <= ? AND left_by != ? AND (claimed_by IS NULL"
    " OR claimed_by = ? OR claimed_by NOT IN (SELECT id FROM fleet_workers WHERE beat_at >= ?))"
    " ORDER BY due_at, id LIMIT ? FOR UPDATE SKIP LOCKED)"
    " UPDATE jobs SET claimed_by = ? FROM c WHERE jobs.id = c.id"
    " RETURNING jobs.id, jobs.due_at, jobs.kind, jobs.ref, jobs.scope, jobs.payload")
_NEXT_FREE = ("SELECT MIN(due_at) FROM jobs WHERE left_by != ? AND (claimed_by IS NULL OR claimed_by = ?"
              " OR claimed_by NOT IN (SELECT id FROM fleet_workers WHERE beat_at >= ?))")

# Set in a task whose work a run waits for before it answers (see ``Scheduler.settlers``): what it schedules for the
# run's target is the run's own work, not traffic that arrived meanwhile.
_settled_work: contextvars.ContextVar[bool] = contextvars.ContextVar("settled_work", default=False)


@dataclass(slots=True)
class Job:
    id: int
    due_at: int
    kind: str
    ref: str
    scope: str
    payload: dict[str, Any]


Handler = Callable[[list[Job]], Awaitable[None]]


_INSERT_JOB = "INSERT INTO jobs (due_at, kind, ref, scope, payload, left_by) VALUES (?, ?, ?, ?, ?, ?)"


async def schedule(tx: Tx, kind: str, due_at: int, ref: str = "", payload: dict[str, Any] | None = None,
                   scope: str = "", *, defer: bool = False) -> int:
    """Add a job inside an open transaction. The caller wakes the scheduler after commit (``tx.after_commit``).

    ``defer``: write it with the transaction's next statement (``Tx.defer``); the job id is then not known (0).
    """
    row = (due_at, kind, ref, scope, dumps(payload or {}), tx.job_mark(due_at))
    if defer:
        tx.defer(_INSERT_JOB, row)
        return 0
    return await tx.insert(_INSERT_JOB, row)


async def reschedule(tx: Tx, moves: list[tuple[int, int]]) -> None:
    """Move consumed jobs to a later due time instead of deleting them and adding new ones (same kind, ref,
    scope and payload): one index entry changes instead of three deleted and three inserted. Rows of
    (due_at, job id); the handler calls ``done`` for the rest of its batch."""
    if moves:
        await tx.executemany("UPDATE jobs SET due_at = ? WHERE id = ?", moves)


async def rewrite_payloads(tx: Tx, rows: list[tuple[str, int]]) -> None:
    """Replace the payload of pending jobs: rows of (payload JSON, job id)."""
    await tx.executemany("UPDATE jobs SET payload = ? WHERE id = ?", rows)


@dataclass(frozen=True)
class RefQuery:
    """A provider's own query for the refs of the jobs to cancel (``SELECT id FROM <its table> WHERE ...``)."""

    sql: str
    params: tuple[Any, ...] = ()


async def cancel(tx: Tx, *, kinds: tuple[str, ...] = (), scope: str | None = None, ref: str | None = None,
                 refs_in: RefQuery | None = None) -> int:
    """Delete pending jobs (a scoped reset, a forced outcome): those of ``kinds`` (any kind if empty) that match
    every other condition given. Returns how many went."""
    clauses: list[str] = []
    params: list[Any] = []
    if kinds:
        clauses.append(f"kind IN ({','.join('?' * len(kinds))})")
        params += kinds
    if scope is not None:
        clauses.append("scope = ?")
        params.append(scope)
    if ref is not None:
        clauses.append("ref = ?")
        params.append(ref)
    if refs_in is not None:
        clauses.append(f"ref IN ({refs_in.sql})")
        params += refs_in.params
    if not clauses:
        raise ValueError("cancel() needs at least one condition")
    return await tx.execute(f"DELETE FROM jobs WHERE {' AND '.join(clauses)}", params)  # noqa: S608


async def done(tx: Tx, jobs: list[Job]) -> None:
    """Consume jobs inside the handler's transaction."""
    if len(jobs) == 1:
        await tx.execute("DELETE FROM jobs WHERE id = ?", (jobs[0].id,))
    elif jobs:
        await tx.executemany("DELETE FROM jobs WHERE id = ?", [(j.id,) for j in jobs])


class Scheduler:
    """Runs due jobs: in the background as the clock reaches them, and synchronously on :meth:`advance`."""

    def __init__(self, store: Store, clock: Clock, fleet: Fleet | None = None) -> None:
        self.store = store
        self.clock = clock
        self.fleet = fleet if fleet is not None and fleet.active else None
        self._handlers: dict[str, Handler] = {}
        self._run_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.paused = False
        self.errors: list[str] = []
        # The due time the background loop is sleeping towards; None while it runs or waits for any wake.
        self._sleeping_until: int | None = None
        # The earliest due time of work scheduled while a batch runs: it may have to run before the batch's rest.
        self._earliest_new: int | None = None
        self._spans_times: set[str] = set()
        # The task running due jobs (under _run_lock), the time it runs to, and its mark: jobs other tasks write
        # meanwhile, due at that time or later, carry the mark, and that run leaves them to the next one. Other
        # tasks read the run's target as now (Clock.advancing), so under steady traffic each send's webhook is due
        # exactly then: a run would otherwise chase new work for as long as the traffic lasted, holding the lock
        # that advances, resets and run-due wait for (19 s in a 20 s storm). Work due earlier (a request that read
        # the clock before the run began) is bounded, and the run takes it.
        self._runner: asyncio.Task[Any] | None = None
        self._run_target = 0
        self._run_mark = 0
        # True while the background loop runs due jobs: a handler may then leave slow work (webhook deliveries)
        # running on its own instead of holding up the clock's other work. Advances and run-dues wait for such
        # work through ``settlers`` before they answer, as they always did.
        self.in_background = False
        self.settlers: list[Callable[[], Awaitable[bool]]] = []
        # In a fleet, run by the loop about once per FLEET_POLL_S: give back work a dead process held outside the
        # jobs' claims (the outbox's deliveries on the wire).
        self.rescuers: list[Callable[[], Awaitable[None]]] = []
        self._rescued_at = 0.0
        store.mark_jobs_with(self.outside_mark)

    def register(self, kind: str, handler: Handler, *, spans_times: bool = False) -> None:
        """``spans_times``: the handler may get jobs of several due times in one batch because it moves the clock
        to each job's due time itself (``clock.set(job.due_at)``) before anything that reads the clock."""
        if kind in self._handlers:
            raise ValueError(f"handler for {kind!r} already registered")
        self._handlers[kind] = handler
        if spans_times:
            self._spans_times.add(kind)

    def exclusive(self) -> asyncio.Lock:
        """Held while due jobs run: a full reset takes it so no run overlaps it."""
        return self._run_lock

    def outside_mark(self, due_at: int) -> int:
        """What a job due at ``due_at`` written now carries in ``left_by``: the running run's mark if another task
        writes it for the run's target or later, else 0."""
        if (self._runner is not None and due_at >= self._run_target and not self._in_run()
                and not _settled_work.get()):
            return self._run_mark
        return 0

    @staticmethod
    def doing_settled_work() -> None:
        """Called by a task that a settler waits for: a run that waits for it also runs what it schedules (a
        webhook's retry due at an advance's target goes out within that advance)."""
        _settled_work.set(True)

    def _in_run(self) -> bool:
        return self._runner is not None and asyncio.current_task() is self._runner

    def wake(self, due_at: int | None = None) -> None:
        """Tell the background loop about new work. With ``due_at``, a wake that changes nothing is skipped:
        every send would otherwise cost the loop two queries."""
        new_due = self.clock.now_ms() if due_at is None else due_at
        if self._earliest_new is None or new_due < self._earliest_new:
            self._earliest_new = new_due
        if due_at is not None and due_at > self.clock.now_ms():
            if self.clock.manual:
                return  # only advance() moves a manual clock, and it runs what falls due itself
            if self._sleeping_until is not None and due_at >= self._sleeping_until:
                return
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="simulator-scheduler")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def next_due(self) -> int | None:
        if self.fleet is not None:  # jobs another live process is running are not this one's next
            row = await self.store.fetch_one(_NEXT_FREE, (self._run_mark if self._in_run() else -1,
                                                          self.fleet.worker_id, self.fleet.stale_before()))
            return None if row is None or row[0] is None else int(row[0])
        # Within a run (a handler asking), the jobs it leaves are not next: they wait for the run to end.
        row = await (self.store.fetch_one("SELECT MIN(due_at) FROM jobs WHERE left_by != ?", (self._run_mark,))
                     if self._in_run() else self.store.fetch_one("SELECT MIN(due_at) FROM jobs"))
        return None if row is None or row[0] is None else int(row[0])

    async def pending(self) -> int:
        row = await self.store.fetch_one("SELECT COUNT(*) FROM jobs")
        return int(row[0]) if row else 0

    async def advance(self, seconds: float) -> dict[str, Any]:
        """Move the clock forward, running every job that falls due on the way, in due order."""
        async with self._run_lock:
            fleet, known = self.fleet, 0
            if fleet is not None:
                await fleet.sync()
                # One statement: advances through two processes add up; the others read the target from now on.
                target = await fleet.advance_clock(round(seconds * 1000), self.clock.now_ms())
                row = await self.store.fetch_one("SELECT MAX(id) FROM jobs")
                known = int(row[0]) if row is not None and row[0] is not None else 0
            else:
                # Read under the lock: an advance queued behind another starts from where that one ended.
                target = self.clock.now_ms() + round(seconds * 1000)
            with self.clock.advancing(target):
                ran = await self._run_until(target, move_clock=True)
                if fleet is not None:
                    ran += await self._wait_for_fleet(target, known)
        self._wake.set()
        return {"ran": ran, "now": self.clock.now_iso()}

    async def _wait_for_fleet(self, target: int, known: int) -> int:
        """In a fleet, an advance answers once no job due by its target that existed when it began is left: the
        ones other processes claimed ran there (or, their process gone, were taken over here)."""
        ran = 0
        while True:
            row = await self.store.fetch_one("SELECT COUNT(*) FROM jobs WHERE due_at <= ? AND id <= ?",
                                             (target, known))
            if row is None or int(row[0]) == 0:
                return ran
            await asyncio.sleep(0.005)  # another process is running them
            ran += await self._run_marked(target, move_clock=True)

    async def run_due(self, *, background: bool = False) -> int:
        """Run what is due now (without moving the clock), and wait for what it started (unless ``background``)."""
        async with self._run_lock:
            return await self._run_until(self.clock.now_ms(), move_clock=False, background=background)

    async def _run_until(self, target: int, move_clock: bool, background: bool = False) -> int:
        # A mark never reused, across restarts too: a job left by an earlier run is an ordinary job to this one.
        self._runner, self._run_target = asyncio.current_task(), target
        self._run_mark = max(time.time_ns(), self._run_mark + 1)
        self.in_background = background
        try:
            ran = await self._run_marked(target, move_clock)
            while not background and await self._settle():
                ran += await self._run_marked(target, move_clock)  # what the settled work scheduled
            return ran
        finally:
            self._runner = None
            self.in_background = False

    async def _settle(self) -> bool:
        """Wait for work handlers left running; True if there was any."""
        waited = False
        for settle in self.settlers:
            waited = await settle() or waited
        return waited

    async def _run_marked(self, target: int, move_clock: bool) -> int:
        ran = 0
        while True:
            rows = await self._due_rows(target, move_clock)
            if not rows:
                return ran
            jobs = [Job(r[0], r[1], r[2], r[3], r[4], loads(r[5])) for r in rows]
            groups = self._groups(jobs, move_clock)
            for index, group in enumerate(groups):
                if move_clock:
                    self.clock.set(group[0].due_at)
                self._forget_new_work()
                await self._dispatch(group)
                ran += len(group)
                # Work scheduled by this group that falls due before the rest of the batch runs first: refetch.
                rest = groups[index + 1:]
                if rest and self._earliest_new is not None and self._earliest_new <= min(g[0].due_at for g in rest):
                    break

    async def _due_rows(self, target: int, move_clock: bool) -> list[Any]:
        if self.fleet is None:
            return await self.store.fetch_all(
                "SELECT id, due_at, kind, ref, scope, payload FROM jobs WHERE due_at <= ? AND left_by != ?"
                " ORDER BY due_at, id LIMIT ?", (target, self._run_mark, BATCH))
        if not move_clock:  # an advance reads each job's own due time; other runs catch up with the fleet first
            await self.fleet.sync()
        me = self.fleet.worker_id
        async with self.store.transaction() as tx:
            rows = await tx.fetch_all(_CLAIM, (target, self._run_mark, me, self.fleet.stale_before(), BATCH, me))
        return sorted(rows, key=lambda r: (r[1], r[0]))

    def _forget_new_work(self) -> None:
        """Before a group runs: ``_earliest_new`` then says what the group (or anyone meanwhile) scheduled."""
        self._earliest_new = None

    def _groups(self, jobs: list[Job], move_clock: bool) -> list[list[Job]]:
        """The batch (in due order) as the handler calls to make, each group one kind, in due order within.

        Moving the clock, groups follow due order: one group of same-kind, same-time jobs at a time, so the clock
        reads exactly the jobs' due time while they run (webhooks they enqueue carry that time); a kind whose
        handler keeps each job's own time (``spans_times``) takes every consecutive job of its kind. Not moving it
        (a real clock, run-due: everything is due already), a ``spans_times`` kind takes all its jobs of the
        batch at once: with a real clock every webhook has its own due time, and one group per due time sent
        them one after another, whatever the outbox's concurrency (10 a second to a receiver taking 100 ms).
        """
        groups: list[list[Job]] = []
        gathered: dict[str, list[Job]] = {}
        for job in jobs:
            spans = job.kind in self._spans_times
            if spans and not move_clock:
                if job.kind not in gathered:
                    gathered[job.kind] = []
                    groups.append(gathered[job.kind])
                gathered[job.kind].append(job)
            elif groups and groups[-1][-1].kind == job.kind and (spans or groups[-1][-1].due_at == job.due_at):
                groups[-1].append(job)
            else:
                groups.append([job])
        return groups

    async def _dispatch(self, group: list[Job]) -> None:
        handler = self._handlers.get(group[0].kind)
        if handler is None:
            # Unknown kind (e.g. a db written by a newer version): drop it rather than spin forever.
            log.warning("no handler for job kind %s; dropping %d job(s)", group[0].kind, len(group))
            async with self.store.transaction() as tx:
                await done(tx, group)
            return
        try:
            await handler(group)
        except Exception as exc:
            if self.store.failed(exc):
                raise  # disk full, I/O error: the handler's transaction rolled back, the jobs stay for a retry
            # A broken handler must not stop the clock: drop its jobs and record why.
            log.exception("job handler %s failed", group[0].kind)
            self.errors.append(f"{group[0].kind}: {exc!r}")
            del self.errors[:-50]
            async with self.store.transaction() as tx:
                await done(tx, group)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                # Clear before looking: a wake that arrives while we run is then not lost.
                self._wake.clear()
                if self.fleet is not None and time.monotonic() - self._rescued_at >= FLEET_POLL_S:
                    self._rescued_at = time.monotonic()
                    for rescue in self.rescuers:
                        await rescue()
                if not self.paused:
                    await self.run_due(background=True)
                nxt = await self.next_due()
                timeout: float | None = None
                if nxt is not None and not self.paused:
                    if nxt <= self.clock.now_ms():
                        continue
                    timeout = self.clock.wall_seconds_until(nxt)
                    self._sleeping_until = nxt
                if self.fleet is not None:
                    timeout = FLEET_POLL_S if timeout is None else min(timeout, FLEET_POLL_S)
                try:
                    await asyncio.wait_for(self._wake.wait(),
                                           timeout=min(timeout, 5.0) if timeout is not None else None)
                except TimeoutError:
                    pass
                finally:
                    self._sleeping_until = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.store.failed(exc):
                    # Due jobs wait until the db takes writes again; one line per attempt, not a traceback.
                    log.error("scheduler: the db cannot be written (%s); retrying in 1 s", exc)
                    await asyncio.sleep(1.0)
                else:
                    log.exception("scheduler loop error")
                    await asyncio.sleep(0.05)
