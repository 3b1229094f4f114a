"""Durable webhook outbox: events are written with the state change that causes them and delivered
at least once, retried with backoff on the simulator's clock. Shared by every provider."""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, field

from simulator.core import scheduler as sched
from simulator.core.clock import Clock
from simulator.core.deliveries import DELIVERY_JOB, Deliveries
from simulator.core.events import EventBus, WebhookAttempted
from simulator.core.http import HttpClient
from simulator.core.knobs import WebhookKnobs
from simulator.core.scheduler import Job, Scheduler
from simulator.core.store import Store, Tx
from simulator.core.urls import UrlRule

log = logging.getLogger("simulator.outbox")

JOB_KIND = DELIVERY_JOB
# A delivery in flight outside the scheduler's run keeps its job, moved this far into the future so no run takes
# it again; its attempt's record deletes or reschedules it, and a restart (after kill -9, say) moves it back.
PARKED = 1 << 60
_LOGGED_BODY_BYTES = 8000  # enough for 2,000 characters of UTF-8
# Bird documents "increasing intervals over ~8 hours": 30 s, 2 m, 10 m, 30 m, 1 h, 2 h, 4 h (≈ 7 h 43 m in all).
DEFAULT_RETRY_SCHEDULE_S = (30, 120, 600, 1800, 3600, 7200, 14400)


@dataclass(slots=True)
class Delivery:
    id: int
    provider: str
    event: str
    url: str
    headers: dict[str, str]
    body: bytes
    attempts: int
    ordering_key: str
    subscription_id: str
    request_id: str
    scope: str = ""


@dataclass
class AttemptResult:
    status_code: int | None
    error: str
    duration_ms: float
    response_body: str = ""


@dataclass
class Outbox:
    store: Store
    clock: Clock
    scheduler: Scheduler
    rng: random.Random
    timeout_s: float = 5.0
    # Per-provider webhook timeouts overriding ``timeout_s`` (e.g. Business Chat: Apple waits 30 s).
    provider_timeouts: dict[str, float] = field(default_factory=dict)
    concurrency: int = 32
    retry_schedule_s: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE_S
    knobs: WebhookKnobs = field(default_factory=WebhookKnobs)
    http: HttpClient | None = None  # the simulator's one client (core/http.py); made here when not given
    url_rule: UrlRule = field(default_factory=UrlRule)  # what it may call (core/urls.py), where not given the client
    events: EventBus = field(default_factory=EventBus)  # each attempt is published: WebhookAttempted

    def __post_init__(self) -> None:
        if self.http is None:
            self.http = HttpClient(per_host=self.concurrency, timeout_s=self.timeout_s, url_rule=self.url_rule)
        self.deliveries = Deliveries(self.store)
        self._semaphore = asyncio.Semaphore(self.concurrency)
        # Deliveries the background loop left running (a slow receiver holds up nothing else), and the last of
        # them per ordering key (the next one for that key starts after it: one message's webhooks stay in order).
        self._in_flight: set[asyncio.Task[None]] = set()
        self._key_tail: dict[str, asyncio.Task[None]] = {}
        self.scheduler.settlers.append(self.settle)
        # spans_times: each attempt is timed by its own job (max(now, due_at)), so deliveries of several due times
        # can share one batch and the concurrency cap.
        self.scheduler.register(JOB_KIND, self._deliver_jobs, spans_times=True)

    async def start(self) -> None:
        fleet = self.scheduler.fleet
        if fleet is None:
            async with self.store.transaction() as tx:  # deliveries in flight when the process stopped
                await tx.execute("UPDATE jobs SET due_at = due_at - ? WHERE kind = ? AND due_at >= ?",
                                 (PARKED, JOB_KIND, PARKED))
        else:
            await self._rescue_parked()
            self.scheduler.rescuers.append(self._rescue_parked)
        self.client.open()

    async def _rescue_parked(self) -> None:
        """In a fleet: deliveries a process left on the wire when it died (its beat went stale) are due again, for
        whichever process claims them; those of live processes are theirs."""
        fleet = self.scheduler.fleet
        if fleet is None:
            return
        async with self.store.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET due_at = due_at - ?, claimed_by = NULL WHERE kind = ? AND due_at >= ?"
                " AND (claimed_by IS NULL OR claimed_by NOT IN (SELECT id FROM fleet_workers WHERE beat_at >= ?))",
                (PARKED, JOB_KIND, PARKED, fleet.stale_before()))

    async def close(self) -> None:
        await self.cancel_in_flight()
        await self.client.close()

    async def enqueue(self, tx: Tx, *, provider: str, event: str, url: str, headers: dict[str, str], body: bytes,
                      request_id: str, ordering_key: str = "", subscription_id: str = "", scope: str = "",
                      delay_s: float = 0.0) -> int:
        """Write an event to the outbox inside the caller's transaction; it is delivered after commit."""
        now = self.clock.now_ms()
        delay_ms = int((delay_s + self.knobs.delay_s) * 1000)
        outbox_id = await tx.insert(
            "INSERT INTO outbox (provider, scope, event, ordering_key, subscription_id, request_id, url, headers, body,"
            " created_at, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (provider, scope, event, ordering_key, subscription_id, request_id, url,
             json.dumps(headers), body, now, now + delay_ms),
        )
        await sched.schedule(tx, JOB_KIND, now + delay_ms, str(outbox_id), scope=scope)
        copies = 1
        if self.knobs.duplicate_probability and self.rng.random() < self.knobs.duplicate_probability:
            copies = 2
        if copies == 2:
            await sched.schedule(tx, JOB_KIND, now + delay_ms, str(outbox_id), {"duplicate": True}, scope=scope)
        tx.after_commit.append(lambda: self.scheduler.wake(now + delay_ms))
        return outbox_id

    async def cancel_subscription(self, tx: Tx, subscription_id: str, reason: str) -> int:
        """Stop delivering what is still queued for a subscription (e.g. it was deleted): no further attempts;
        the rows stay, marked ``cancelled``, until retention removes them. Returns how many were cancelled."""
        return await tx.execute(
            "UPDATE outbox SET status='cancelled', next_attempt_at=NULL, last_error=? WHERE subscription_id=?"
            " AND status='pending'", (reason, subscription_id))

    # -- delivery ---------------------------------------------------------------------------------------------

    async def _deliver_jobs(self, jobs: list[Job]) -> None:
        # The scheduler runs a fetched batch to its end; a handler that ran earlier in the batch may have scheduled
        # jobs due before these (a status change → its webhook). Leave these for the scheduler's next fetch so
        # deliveries go out in due order (which the reorder knob relies on); they stay in the jobs table.
        earliest = await self.scheduler.next_due()
        if earliest is not None and earliest < min(j.due_at for j in jobs):
            return
        ids = sorted({int(j.ref) for j in jobs})
        rows = await self.store.fetch_all(
            "SELECT id, provider, event, url, headers, body, attempts, ordering_key, subscription_id, request_id,"  # noqa: S608 - placeholders only
            f" status, scope FROM outbox WHERE id IN ({','.join('?' * len(ids))})",
            ids,
        )
        by_id = {r[0]: r for r in rows}
        groups: dict[str, list[tuple[Job, Delivery]]] = {}
        orphans: list[Job] = []
        held: list[Job] = []
        for job in jobs:
            row = by_id.get(int(job.ref))
            if row is None or row[10] == "cancelled" or (row[10] != "pending" and not job.payload.get("duplicate")):
                orphans.append(job)
                continue
            if (self.knobs.reorder and self.knobs.reorder_window_s > 0 and not job.payload.get("held")
                    and self.rng.random() < 0.5):
                held.append(job)
                continue
            delivery = Delivery(row[0], row[1], row[2], row[3], json.loads(row[4]), bytes(row[5]), row[6], row[7],
                                row[8], row[9], row[11])
            # In order per ordering key and receiver: one subscriber that stalls holds up no other subscriber.
            key = (f"{delivery.ordering_key}\n{delivery.subscription_id or delivery.url}" if delivery.ordering_key
                   else f"#{delivery.id}")
            groups.setdefault(key, []).append((job, delivery))
        if self.knobs.reorder:
            for items in groups.values():
                self.rng.shuffle(items)
        elif self.scheduler.fleet is not None:
            for items in groups.values():
                if not await self._after_the_fleets(*items[0]):
                    return  # an earlier webhook of the key is free again (its process died): the next fetch takes it
        if self.scheduler.in_background and groups:
            # Left running: the loop goes on with transitions and other receivers' webhooks meanwhile. Before,
            # a receiver that did not answer (a handler paused in a debugger) held everything for its timeout.
            if held:
                await self._hold(held)
            if orphans:
                await self._record([], orphans)
            async with self.store.transaction() as tx:
                await tx.executemany("UPDATE jobs SET due_at = due_at + ? WHERE id = ?",
                                     [(PARKED, job.id) for items in groups.values() for job, _ in items])
            for key, items in groups.items():
                self._start(key, items)
            return
        results: list[tuple[Job, Delivery, AttemptResult]] = []

        async def run_group(key: str, items: list[tuple[Job, Delivery]]) -> None:
            previous = self._key_tail.get(key)
            if previous is not None:
                # The background loop left an earlier webhook of this key on the wire (an advance that began
                # meanwhile runs the message's next status): it goes first, as it would have without the advance.
                await asyncio.wait([previous])
            async with self._semaphore:
                for job, delivery in items:
                    results.append((job, delivery, await self._attempt(delivery)))

        await asyncio.gather(*(run_group(key, items) for key, items in groups.items()))
        if held:
            await self._hold(held)
        await self._record(results, orphans)

    async def _after_the_fleets(self, job: Job, delivery: Delivery) -> bool:
        """In a fleet, an earlier webhook of the same key may be on the wire from another process: wait for it (as
        ``_key_tail`` does within one process), at most as long as an attempt can take. False when an earlier one
        is nobody's (its process died): the caller leaves its jobs so the scheduler's next fetch, in due order,
        sends that one first."""
        fleet = self.scheduler.fleet
        if fleet is None or not delivery.ordering_key:
            return True
        deadline = time.monotonic() + self.timeout_s + 1
        while time.monotonic() < deadline:
            rows = await self.store.fetch_all(
                # Due before this one in the order one process runs them (or parked: on the wire), and not this
                # process's.
                "SELECT j.claimed_by, j.claimed_by IN (SELECT id FROM fleet_workers WHERE beat_at >= ?) FROM jobs j"
                " JOIN outbox o ON j.ref = o.id::text WHERE o.ordering_key = ? AND o.subscription_id = ?"
                " AND o.url = ? AND o.status = 'pending' AND o.id != ? AND COALESCE(j.claimed_by, '') != ?"
                " AND (j.due_at < ? OR (j.due_at = ? AND j.id < ?) OR j.due_at >= ?)",
                (fleet.stale_before(), delivery.ordering_key, delivery.subscription_id, delivery.url, delivery.id,
                 fleet.worker_id, job.due_at, job.due_at, job.id, PARKED))
            if not rows:
                return True
            if not any(row[0] is not None and row[1] for row in rows):
                await self._rescue_parked()  # one its dead process had on the wire is due again, first
                return False
            await asyncio.sleep(0.005)  # a live process has it on the wire
        return True

    def _start(self, key: str, items: list[tuple[Job, Delivery]]) -> None:
        # The attempts count as made now, when the run took them: what the clock reads when they are recorded can
        # be an advance's target already (a retry would then land after the advance instead of within it).
        task = asyncio.get_running_loop().create_task(
            self._deliver_in_flight(self._key_tail.get(key), items, self.clock.now_ms()))
        self._in_flight.add(task)
        self._key_tail[key] = task

        def finished(done: asyncio.Task[None]) -> None:
            self._in_flight.discard(done)
            if self._key_tail.get(key) is done:
                del self._key_tail[key]

        task.add_done_callback(finished)

    async def _deliver_in_flight(self, previous: asyncio.Task[None] | None, items: list[tuple[Job, Delivery]],
                                 taken_ms: int) -> None:
        self.scheduler.doing_settled_work()  # advances and run-dues wait for this task (settle)
        if previous is not None:
            await asyncio.wait([previous])  # its outcome is its own; only the order matters here
        try:
            async with self._semaphore:
                results = [(job, delivery, await self._attempt(delivery)) for job, delivery in items]
            await self._record(results, [], taken_ms)
            self.scheduler.wake()  # the retries it scheduled
        except Exception:  # the db refused the record (disk full): the jobs go back, to be delivered again
            log.exception("recording webhook deliveries failed; they will be attempted again")
            try:
                async with self.store.transaction() as tx:
                    await tx.executemany("UPDATE jobs SET due_at = due_at - ? WHERE id = ? AND due_at >= ?",
                                         [(PARKED, job.id, PARKED) for job, _ in items])
            except Exception:
                log.exception("could not release the deliveries' jobs; the next start does")

    async def settle(self) -> bool:
        """Wait for every delivery left in flight; True if there was one."""
        if not self._in_flight:
            return False
        await asyncio.wait(set(self._in_flight))
        return True

    async def cancel_in_flight(self) -> None:
        """Stop every delivery in flight (their jobs stay parked until the next start, or a reset deletes them)."""
        tasks = set(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _hold(self, jobs: list[Job]) -> None:
        """Reorder knob: push these deliveries back once so later events of the same key overtake them."""
        now = self.clock.now_ms()
        async with self.store.transaction() as tx:
            await sched.done(tx, jobs)
            for job in jobs:
                due = max(now, job.due_at) + int(self.rng.uniform(0.5, max(0.5, self.knobs.reorder_window_s)) * 1000)
                await sched.schedule(tx, JOB_KIND, due, job.ref, {**job.payload, "held": True}, scope=job.scope)
            tx.after_commit.append(self.scheduler.wake)

    @property
    def client(self) -> HttpClient:
        if self.http is None:  # set in __post_init__
            raise RuntimeError("the outbox has no HTTP client")
        return self.http

    async def _attempt(self, delivery: Delivery) -> AttemptResult:
        await self.client.session()  # made on the first delivery; raises once the simulator is shutting down
        import aiohttp  # loaded by session()

        started = time.perf_counter()
        try:
            # The log keeps the first 2,000 characters; a receiver answering more is not read further.
            answer = await self.client.post(delivery.url, delivery.body, delivery.headers,
                                            timeout_s=self.provider_timeouts.get(delivery.provider),
                                            read_limit=_LOGGED_BODY_BYTES)
            body = answer.body.decode("utf-8", "replace")[:2000]
            return AttemptResult(answer.status, "", (time.perf_counter() - started) * 1000, body)
        except TimeoutError:
            # aiohttp closes the abandoned connection on the loop's next turn: let it, so a delivery that takes
            # this slot never overlaps it (at most `concurrency` connections are ever open to receivers).
            await asyncio.sleep(0)
            return AttemptResult(None, "timeout", (time.perf_counter() - started) * 1000)
        except aiohttp.ClientResponseError as exc:  # aiohttp labels an unparsable answer "400": say what it was
            message = " ".join(str(exc.message).split())
            return AttemptResult(None, f"invalid HTTP response from the receiver: {message}"[:500],
                                 (time.perf_counter() - started) * 1000)
        except Exception as exc:  # noqa: BLE001 - refused, reset, a malformed URL or header: logged, retried, never a crash
            return AttemptResult(None, f"{type(exc).__name__}: {exc}"[:500], (time.perf_counter() - started) * 1000)

    async def _record(self, results: list[tuple[Job, Delivery, AttemptResult]], orphans: list[Job],
                      now: int | None = None) -> None:
        if now is None:
            now = self.clock.now_ms()
        attempts: list[WebhookAttempted] = []
        async with self.store.transaction() as tx:
            await sched.done(tx, orphans + [job for job, _, _ in results])
            if results:
                # A delivery in flight while a scoped reset deleted its row leaves no attempt behind.
                ids = sorted({delivery.id for _, delivery, _ in results})
                present = {r[0] for r in await tx.fetch_all(
                    f"SELECT id FROM outbox WHERE id IN ({','.join('?' * len(ids))})", ids)}  # noqa: S608 - placeholders
                results = [r for r in results if r[1].id in present]
            for job, delivery, result in results:
                at = max(now, job.due_at)  # in an advance the clock reads the batch's first due time
                attempt = delivery.attempts + 1
                ok = result.status_code is not None and 200 <= result.status_code < 300
                await tx.insert(
                    "INSERT INTO outbox_attempts (outbox_id, attempt, at, status_code, error, duration_ms,"
                    " response_body) VALUES (?,?,?,?,?,?,?)",
                    (delivery.id, attempt, at, result.status_code, result.error, result.duration_ms,
                     result.response_body),
                )
                if job.payload.get("duplicate"):
                    await tx.execute("UPDATE outbox SET attempts = ? WHERE id = ?", (attempt, delivery.id))
                    delivery.attempts = attempt
                elif ok:
                    await tx.execute(
                        "UPDATE outbox SET attempts=?, status='delivered', next_attempt_at=NULL, last_status=?,"
                        " last_error='' WHERE id=?", (attempt, result.status_code, delivery.id))
                else:
                    retry_index = attempt - 1
                    if retry_index < len(self.retry_schedule_s):
                        next_at = at + self.retry_schedule_s[retry_index] * 1000
                        await tx.execute(
                            "UPDATE outbox SET attempts=?, next_attempt_at=?, last_status=?, last_error=? WHERE id=?",
                            (attempt, next_at, result.status_code, result.error, delivery.id))
                        await sched.schedule(tx, JOB_KIND, next_at, str(delivery.id), {"retry": True})
                    else:
                        await tx.execute(
                            "UPDATE outbox SET attempts=?, status='failed', next_attempt_at=NULL, last_status=?,"
                            " last_error=? WHERE id=?", (attempt, result.status_code, result.error, delivery.id))
                attempts.append(WebhookAttempted(delivery.id, delivery.provider, delivery.event, delivery.url, attempt,
                                                 result.status_code, result.error, ok, at, delivery.scope,
                                                 bool(job.payload.get("duplicate")), bool(job.payload.get("held")),
                                                 bool(job.payload.get("retry"))))
        for published in attempts:
            self.events.publish(published)

    # -- inspection -------------------------------------------------------------------------------------------

    async def stats(self) -> dict[str, int]:
        return await self.deliveries.stats()
