"""Bird's status lifecycle, in one place: the statuses and their sets, the failure catalogue, the scripted outcomes
and timing, the transition rules, the job that moves a message along and the outcomes forced from outside.

accepted → processing → sent → delivered, or a failure, on the simulator's clock. Outcomes are scripted
deterministically by the receiver number's last digits (``outcomes`` in the config) and per-channel timing
profiles. Every transition is a persisted job (``bird.transition``), so it survives a restart.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from simulator.bird.encoding import segment_count
from simulator.bird.events import MessageEvent
from simulator.core import scheduler as sched
from simulator.core.clock import iso_ms
from simulator.core.codec import dumps
from simulator.core.scheduler import Job
from simulator.core.store import Tx

if TYPE_CHECKING:
    from simulator.bird.config import BirdWorld, Channel
    from simulator.bird.messages import Messages
    from simulator.core.simulation import Simulation

JOB_KIND = "bird.transition"


class Status(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PROCESSING = "processing"
    SCHEDULED = "scheduled"
    SENT = "sent"
    SENDING_FAILED = "sending_failed"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    DELETED = "deleted"
    SKIPPED = "skipped"


ALL_STATUSES: tuple[str, ...] = tuple(s.value for s in Status)  # what list and webhook filters accept
TERMINAL = frozenset({Status.DELIVERED, Status.DELIVERY_FAILED, Status.SENDING_FAILED, Status.REJECTED,
                      Status.SKIPPED, Status.DELETED})
# Statuses a message leaves by itself; its validity period can still run out in them.
MOVING = frozenset({Status.ACCEPTED, Status.PROCESSING, Status.SENT, Status.SCHEDULED})
DLR_STATUSES = frozenset({Status.DELIVERED, Status.DELIVERY_FAILED})  # what a delivery report says

# Scripted outcomes a receiver's number can pick (config ``bird.outcomes``, receiver suffix -> outcome).
OUTCOMES = ("delivered", "delivery_failed", "sending_failed", "rejected", "skipped", "no_dlr", "slow_dlr", "expired")
DEFAULT_OUTCOMES = {
    "0001": "delivery_failed",
    "0002": "sending_failed",
    "0003": "no_dlr",
    "0004": "rejected",
    "0005": "slow_dlr",
    "0006": "skipped",
    "0007": "expired",
}
# Seconds per timing step of a channel's profile (config ``bird.timing_profiles``).
DEFAULT_TIMING = {"processing": 0.2, "sent": 1.0, "delivered": 3.0, "slow_delivered": 900.0, "jitter": 0.0}
# Default validity (seconds) per channel message type.
VALIDITY_BY_TYPE = {"transactional": 129600, "promotional": 129600, "conversational": 129600, "2fa": 600}

# Failure details per failure name. 15005 "unknown subscriber" is documented by Bird; the other codes are the
# simulator's choice within Bird's documented families (11xxx validation, 12xxx service, 14xxx customer,
# 15xxx platform) because Bird's full catalogue is not public.
FAILURES: dict[str, dict[str, Any]] = {
    "delivery_failed": {
        "reason": "details: unknown subscriber; reason: unknown_subscriber; code: 1",
        "details": "unknown_subscriber",
        "failure": {"code": 15005, "description": "unknown subscriber",
                    "source": {"code": "1", "name": "sms-messagebird"}},
    },
    "sending_failed": {
        "reason": "details: no route to destination; reason: routing_error; code: 20",
        "details": "routing_error",
        "failure": {"code": 12001, "description": "dependency error",
                    "source": {"code": "20", "name": "sms-messagebird"}},
    },
    "rejected": {
        "reason": "destination not allowed for this channel",
        "details": "unsupported_destination",
        "failure": {"code": 12003, "description": "unsupported destination",
                    "source": {"code": "12003", "name": "pre-processing"}},
    },
    "skipped": {
        "reason": "message skipped by the sending policy (quiet hours)",
        "details": "quiet_hours",
        "failure": {"code": 14001, "description": "skipped by policy",
                    "source": {"code": "14001", "name": "contact"}},
    },
    "expired": {
        "reason": "details: validity period expired before delivery; reason: expired; code: 3",
        "details": "expired",
        "failure": {"code": 15003, "description": "validity expired",
                    "source": {"code": "3", "name": "sms-messagebird"}},
    },
    "opted_out": {
        "reason": "contact has unsubscribed from this channel",
        "details": "unsubscribed",
        "failure": {"code": 14003, "description": "contact unsubscribed",
                    "source": {"code": "14003", "name": "contact"}},
    },
}


@dataclass(frozen=True)
class Verdict:
    """A status a message is given now, with the failure (a key of FAILURES) that explains it, if any."""

    status: Status
    failure: str | None = None


# What the control plane may force (POST /_sim/bird/messages/{id}/status): "expired" is a delivery_failed whose
# failure says the validity period ran out.
FORCEABLE: dict[str, Verdict] = {
    "processing": Verdict(Status.PROCESSING), "sent": Verdict(Status.SENT), "delivered": Verdict(Status.DELIVERED),
    "delivery_failed": Verdict(Status.DELIVERY_FAILED, "delivery_failed"),
    "sending_failed": Verdict(Status.SENDING_FAILED, "sending_failed"),
    "rejected": Verdict(Status.REJECTED, "rejected"), "skipped": Verdict(Status.SKIPPED, "skipped"),
    "expired": Verdict(Status.DELIVERY_FAILED, "expired"), "deleted": Verdict(Status.DELETED),
}


def outcome_for(world: BirdWorld, receiver: str) -> str:
    """The longest configured suffix that ends the receiver number picks the outcome; else delivered."""
    digits = receiver.lstrip("+")
    best, best_len = "delivered", 0
    for suffix, outcome in world.outcomes.items():
        if digits.endswith(suffix) and len(suffix) > best_len:
            best, best_len = outcome, len(suffix)
    return best


def delay_ms(world: BirdWorld, channel: Channel, step: str, rng_value: float) -> int:
    profile = world.timing_profiles.get(channel.timing) or world.timing_profiles["default"]
    seconds = float(profile[step])
    jitter = float(profile.get("jitter", 0.0))
    if jitter:
        seconds *= 1 + jitter * (2 * rng_value - 1)
    return max(0, round(seconds * 1000))


def next_step(current: str, outcome: str) -> tuple[str, Status] | None:
    """(timing step, next status) after ``current`` for ``outcome``; None when the message rests."""
    if current in (Status.ACCEPTED, Status.SCHEDULED):
        if outcome == "rejected":
            return "processing", Status.REJECTED
        if outcome == "skipped":
            return "processing", Status.SKIPPED
        return "processing", Status.PROCESSING
    if current == Status.PROCESSING:
        if outcome == "sending_failed":
            return "sent", Status.SENDING_FAILED
        return "sent", Status.SENT
    if current == Status.SENT:
        if outcome == "no_dlr":
            return None
        if outcome == "delivery_failed":
            return "delivered", Status.DELIVERY_FAILED
        if outcome == "slow_dlr":
            return "slow_delivered", Status.DELIVERED
        if outcome == "expired":
            return "expire", Status.DELIVERY_FAILED
        return "delivered", Status.DELIVERED
    return None


def failure_key(status: str, outcome: str) -> str | None:
    if status == Status.DELIVERY_FAILED:
        return "expired" if outcome in ("expired", "slow_dlr", "no_dlr") else "delivery_failed"
    if status in (Status.SENDING_FAILED, Status.REJECTED, Status.SKIPPED):
        return str(status)
    return None


def apply(message: dict[str, Any], status: str, at_ms: int, failure: dict[str, Any] | None = None) -> None:
    """Put ``message`` (the stored JSON) in ``status`` as of ``at_ms``; ``failure`` is a FAILURES entry (or a batch
    item's pre-processing failure of the same shape)."""
    stamp = iso_ms(at_ms)
    message["status"] = str(status)
    message["lastStatusAt"] = stamp
    message["updatedAt"] = stamp
    if failure:
        message["reason"] = failure.get("reason", "")
        message["details"] = failure.get("details", "")
        message["failure"] = failure.get("failure")


class Lifecycle:
    """Moves messages through their statuses: the first job at send, each transition, forced outcomes."""

    def __init__(self, sim: Simulation, world: BirdWorld, messages: Messages) -> None:
        self.sim = sim
        self.world = world
        self.messages = messages

    async def start(self, tx: Tx, channel: Channel, message_id: str, seq: int, status: str, outcome: str,
                    now: int, scheduled_ms: int | None, expires_at: int, text: str) -> None:
        """Schedule the first transition of a message just stored as ``accepted`` or ``scheduled``."""
        if scheduled_ms is not None and status == "scheduled":
            due = scheduled_ms
        else:
            due = min(now + delay_ms(self.world, channel, "processing", self.sim.random.rng.random()), expires_at)
        await sched.schedule(tx, JOB_KIND, due, message_id,
                             {"outcome": outcome, "expires": expires_at, "text": text, "seq": seq},
                             scope=channel.workspace_id, defer=True)
        tx.after_commit.append(lambda: self.sim.scheduler.wake(due))

    async def run(self, jobs: list[Job]) -> None:
        """The ``bird.transition`` handler: each job moves its message one step on (or to a forced status)."""
        found = await self.messages.for_jobs(jobs)
        learned: list[tuple[str, int]] = []  # (payload, job id) of jobs that now know their message's rowid
        updates: list[tuple[str, str, int]] = []
        moves: list[tuple[int, int]] = []  # (due_at, job id): the job moves on to its message's next step
        events: list[tuple[dict[str, Any], Channel, int, int]] = []
        for job in jobs:
            row = found.get(job.ref)
            if row is None:
                continue
            message, channel_id, seq = row
            channel = self.world.channel(channel_id)
            if channel is None or message["status"] in TERMINAL:
                continue
            outcome = job.payload.get("outcome", "delivered")
            expires = int(job.payload.get("expires", 1 << 62))
            forced = job.payload.get("force")
            new_status: str
            if forced:
                new_status, failure_name = forced, job.payload.get("failure")
            elif job.due_at >= expires and message["status"] in MOVING:
                new_status, failure_name = Status.DELIVERY_FAILED, "expired"
            else:
                step = next_step(message["status"], outcome)
                if step is None:
                    continue
                new_status = step[1]
                failure_name = failure_key(new_status, outcome)
            apply(message, new_status, job.due_at, FAILURES.get(failure_name) if failure_name else None)
            if new_status == Status.SENT and not message["parts"]:
                units = segment_count(job.payload.get("text", ""))
                message["parts"] = [{"platformReference": self.sim.random.hex(16)} for _ in range(units)]
                message["chargeableUnits"] = units
            updates.append((str(new_status), dumps(message), seq))
            events.append((message, channel, job.due_at, seq))
            nxt = None if forced else next_step(new_status, outcome)
            if nxt is not None:
                step_name = nxt[0]
                if step_name == "expire":
                    due = expires
                else:
                    due = job.due_at + delay_ms(self.world, channel, step_name, self.sim.random.rng.random())
                    due = min(due, expires)
                moves.append((due, job.id))
                if job.payload.get("seq") != seq:
                    learned.append((dumps({**job.payload, "seq": seq}), job.id))
        moved = {job_id for _, job_id in moves}
        async with self.sim.store.transaction() as tx:
            await sched.done(tx, [j for j in jobs if j.id not in moved])
            await self.messages.update_statuses(tx, updates)
            await sched.reschedule(tx, moves)
            if learned:
                await sched.rewrite_payloads(tx, learned)
            for message, channel, due_at, seq in events:
                # Jobs of several due times share this batch: webhooks must carry each event's own time.
                self.sim.clock.set(due_at)
                await self.sim.events.emit(tx, MessageEvent("sms.outbound", message, channel, due_at, seq))

    async def force(self, message_id: str, verdict: Verdict) -> dict[str, Any]:
        """Apply ``verdict`` now (control plane): it replaces the scripted lifecycle of the message."""
        await self.messages.get_any(message_id)  # NotFound before anything changes
        now = self.sim.clock.now_ms()
        async with self.sim.store.transaction() as tx:
            await sched.cancel(tx, kinds=(JOB_KIND,), ref=message_id)
            await sched.schedule(tx, JOB_KIND, now, message_id, {"force": str(verdict.status),
                                                                 "failure": verdict.failure})
        await self.sim.scheduler.run_due()
        return await self.messages.get_any(message_id)
