"""Bird messages backend: send, batch, read, list and the lifecycle job handler. Never sees HTTP."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.bird import contacts, lifecycle
from simulator.bird.encoding import segment_count
from simulator.bird.errors import InvalidPayload, NotFound
from simulator.bird.validation import invalid_input, receiver_address
from simulator.core import scheduler as sched
from simulator.core.clock import iso_ms, parse_rfc3339
from simulator.core.codec import dumps, loads
from simulator.core.scheduler import Job
from simulator.core.simulation import Simulation
from simulator.core.store import Tx
from simulator.world import Channel

IMMEDIATE_WINDOW_MS = 10 * 60 * 1000

# (tx, event name, message, context) — called inside the transaction that changed the message.
EventListener = Callable[[Tx, str, dict[str, Any], dict[str, Any]], Awaitable[None]]


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else {}: rejected batch items are stored as sent, whatever their shape."""
    return value if isinstance(value, dict) else {}


@dataclass
class ListQuery:
    workspace_id: str
    channel_id: str | None = None
    limit: int = 10
    page_token: str | None = None
    reverse: bool = False
    direction: str | None = None
    statuses: list[str] = field(default_factory=list)
    start_ms: int | None = None
    end_ms: int | None = None
    sender: str | None = None
    recipient: str | None = None
    phonenumber: str | None = None
    tag: str | None = None
    batch_id: str | None = None
    contact_id: str | None = None
    reference: str | None = None


class BirdMessages:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.listeners: list[EventListener] = []
        # Hooks that may veto a send before it is stored (opt-out rules): return an outcome name or None.
        self.send_policies: list[Callable[[Tx, Channel, dict[str, Any], dict[str, Any]], Awaitable[str | None]]] = []
        # Async request checks that need the store (MMS media exists): return {json path: [messages]} like
        # semantic_issues; the handlers run them after the schema and semantic checks passed.
        self.validators: list[Callable[[Channel, dict[str, Any]], Awaitable[dict[str, list[str]]]]] = []
        sim.scheduler.register(lifecycle.JOB_KIND, self._run_transitions, spans_times=True)

    @property
    def world(self):  # type: ignore[no-untyped-def]
        return self.sim.world.bird

    async def async_issues(self, channel: Channel, request: Any) -> dict[str, list[str]]:
        issues: dict[str, list[str]] = {}
        if isinstance(request, dict):
            for validator in self.validators:
                for path, messages in (await validator(channel, request)).items():
                    issues.setdefault(path, []).extend(messages)
        return issues

    async def emit(self, tx: Tx, event: str, message: dict[str, Any], context: dict[str, Any] | None = None) -> None:
        for listener in self.listeners:
            await listener(tx, event, message, context or {})

    # -- send ---------------------------------------------------------------------------------------------------

    async def send(self, channel: Channel, request: dict[str, Any], *, batch_id: str | None = None,
                   rejected: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store an outgoing message and schedule its lifecycle. The caller validated ``request``."""
        async with self.sim.store.transaction() as tx:
            # Read under the write lock: a reset or an advance that ran while this waited for it came first.
            now = self.sim.clock.now_ms()
            message = await self._store_outgoing(tx, channel, request, now, batch_id, rejected)
        return message

    async def send_batch(self, channel: Channel, items: list[Any], validate: Callable[[Any], dict[str, list[str]]]
                         ) -> dict[str, Any]:
        async with self.sim.store.transaction() as tx:
            now = self.sim.clock.now_ms()  # both under the write lock, as in send()
            batch_id = self.sim.random.uuid()
            for item in items:
                problems = validate(item)
                await self._store_outgoing(tx, channel, _object(item), now, batch_id,
                                           invalid_input(problems) if problems else None)
        return {"batchId": batch_id}

    async def _store_outgoing(self, tx: Tx, channel: Channel, request: dict[str, Any], now: int,
                              batch_id: str | None, rejected: dict[str, Any] | None) -> dict[str, Any]:
        rand = self.sim.random
        receiver_in = _object(request.get("receiver")).get("contacts")
        first = _object(receiver_in[0]) if isinstance(receiver_in, list) and receiver_in else {}
        number = (receiver_address(first) or "") if rejected is None else (
            first["identifierValue"] if isinstance(first.get("identifierValue"), str) else "")
        contact_out: dict[str, Any] = {}
        if rejected is None:
            if number:
                contact, _ = await contacts.find_or_create(tx, rand, channel.workspace_id, "phonenumber", number, now)
            else:
                contact = await contacts.get_by_id(tx, channel.workspace_id, str(first.get("id", "")))
                problem = None if contact else f'contact "{first.get("id")}" does not exist'
                if contact is not None:
                    number = next((i["value"] for i in contact["featuredIdentifiers"] if i["key"] == "phonenumber"),
                                  "")
                    problem = None if number else "contact has no phone number identifier"
                if problem is not None:
                    if batch_id is None:
                        raise InvalidPayload.one(".receiver.contacts[0].id", problem)
                    # In a batch this is the item's failure, not the batch's: Bird rejects it asynchronously.
                    rejected = invalid_input({".receiver.contacts[0].id": [problem]})
            if contact is not None and number:
                contact_out = {"id": contact["id"], "identifierKey": "phonenumber", "identifierValue": number}
        if rejected is not None and not contact_out:
            contact_out = {k: v for k, v in first.items() if k in ("id", "identifierKey", "identifierValue")}
        message_id = rand.uuid()
        stamp = iso_ms(now)
        tags_in = request.get("tags")
        tags = [t.lower() for t in tags_in if isinstance(t, str)] if isinstance(tags_in, list) else []
        message: dict[str, Any] = {
            "id": message_id,
            "channelId": channel.id,
            "sender": {"connector": {"id": channel.connector_id, "identifierValue": channel.number,
                                     "annotations": {"name": channel.name}}},
            "receiver": {"contacts": [contact_out]},
        }
        if request.get("template") is not None:
            message["template"] = request["template"]
        else:
            message["body"] = request.get("body", {})
        message.update({
            "reference": request.get("reference", "") if isinstance(request.get("reference", ""), str) else "",
            "meta": request.get("meta", {}) if isinstance(request.get("meta", {}), dict) else {},
            "parts": [],
            "status": "accepted",
            "reason": "",
            "details": "",
            "direction": "outgoing",
            "origin": None,
            "failure": None,
            "tags": tags,
            "batchId": batch_id,
            "lastStatusAt": stamp,
            "createdAt": stamp,
            "updatedAt": stamp,
        })
        for optional in ("replyTo", "shortLinks"):
            if optional in request:
                message[optional] = request[optional]
        scheduled_ms: int | None = None
        if isinstance(request.get("scheduledFor"), str):
            try:
                scheduled_ms = parse_rfc3339(request["scheduledFor"])
                message["scheduledFor"] = iso_ms(scheduled_ms)
            except ValueError:
                scheduled_ms = None
        validity = request.get("validity") if isinstance(request.get("validity"), int) else channel.default_validity
        start = scheduled_ms if scheduled_ms and scheduled_ms > now else now
        expires_at = start + int(validity) * 1000
        outcome = lifecycle.outcome_for(self.world, number) if number else "rejected"
        policy_outcome = None
        if rejected is None:
            for policy in self.send_policies:
                policy_outcome = await policy(tx, channel, request, contact_out)
                if policy_outcome:
                    break
        # The delivery layer uses the URL only if it is a non-empty string.
        context = {"channel": channel, "notificationUrl": _object(request.get("notification")).get("url"),
                   "atMs": now}
        if rejected is not None:
            self._apply_status(message, "rejected", now, failure=rejected)
        elif policy_outcome:
            self._apply_status(message, policy_outcome.split(":")[0], now,
                               failure=lifecycle.FAILURES.get(policy_outcome.split(":")[-1]))
        elif scheduled_ms is not None and scheduled_ms > now + IMMEDIATE_WINDOW_MS:
            message["status"] = "scheduled"
        # Inserted now (not deferred): its rowid goes into the lifecycle job, so each transition finds the row
        # without the id index.
        seq = await tx.insert(
            "INSERT INTO bird_messages (id, workspace_id, channel_id, direction, status, created_at, batch_id, sender,"
            " recipient, contact_id, reference, tags, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (message_id, channel.workspace_id, channel.id, "outgoing", message["status"], now, batch_id,
             channel.number, number, contact_out.get("id", ""), message["reference"],
             "," + ",".join(tags) + "," if tags else "", dumps(message)),
        )
        if message["status"] in ("accepted", "scheduled"):
            first_due = scheduled_ms if message["status"] == "scheduled" else now + lifecycle.delay_ms(
                self.world, channel, "processing", self.sim.random.rng.random())
            due = min(first_due, expires_at) if message["status"] == "accepted" else first_due
            await sched.schedule(tx, lifecycle.JOB_KIND, due, message_id,
                                 {"outcome": outcome, "expires": expires_at, "text": _text_of(message), "seq": seq},
                                 scope=channel.workspace_id, defer=True)
            tx.after_commit.append(lambda: self.sim.scheduler.wake(due))
        context["seq"] = seq
        await self.emit(tx, "sms.outbound", message, context)
        return message

    def _apply_status(self, message: dict[str, Any], status: str, at_ms: int,
                      failure: dict[str, Any] | None = None) -> None:
        stamp = iso_ms(at_ms)
        message["status"] = status
        message["lastStatusAt"] = stamp
        message["updatedAt"] = stamp
        if failure:
            message["reason"] = failure.get("reason", "")
            message["details"] = failure.get("details", "")
            message["failure"] = failure.get("failure")

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def _run_transitions(self, jobs: list[Job]) -> None:
        # Jobs carry their message's rowid (seq) once known: a rowid lookup skips the id index, a random walk
        # through a million UUIDs at scale. Jobs written without it (older dbs, forced outcomes) learn it here.
        seqs = [j.payload["seq"] for j in jobs if isinstance(j.payload.get("seq"), int)]
        ids = [j.ref for j in jobs if not isinstance(j.payload.get("seq"), int)]
        rows = []
        columns = "SELECT id, data, channel_id, seq FROM bird_messages WHERE"
        if seqs:
            rows += await self.sim.store.fetch_all(f"{columns} seq IN ({','.join('?' * len(seqs))})", seqs)
        if ids:
            rows += await self.sim.store.fetch_all(f"{columns} id IN ({','.join('?' * len(ids))})", ids)
        by_id = {r[0]: (loads(r[1]), r[2], r[3]) for r in rows}
        learned: list[tuple[str, int]] = []  # (payload, job id) of jobs that now know their message's rowid
        updates: list[tuple[str, str, int]] = []
        moves: list[tuple[int, int]] = []  # (due_at, job id): the job moves on to its message's next step
        events: list[tuple[dict[str, Any], Channel, int, int]] = []
        for job in jobs:
            found = by_id.get(job.ref)
            if found is None:
                continue
            message, channel_id, seq = found
            channel = self.world.channel(channel_id)
            if channel is None or message["status"] in lifecycle.TERMINAL:
                continue
            outcome = job.payload.get("outcome", "delivered")
            expires = int(job.payload.get("expires", 1 << 62))
            forced = job.payload.get("force")
            if forced:
                new_status, failure_name = forced, job.payload.get("failure")
            elif job.due_at >= expires and message["status"] in ("accepted", "processing", "sent", "scheduled"):
                new_status, failure_name = "delivery_failed", "expired"
            else:
                step = lifecycle.next_step(message["status"], outcome)
                if step is None:
                    continue
                new_status = step[1]
                failure_name = lifecycle.failure_key(new_status, outcome)
            self._apply_status(message, new_status, job.due_at,
                               lifecycle.FAILURES.get(failure_name) if failure_name else None)
            if new_status == "sent" and not message["parts"]:
                units = segment_count(job.payload.get("text", ""))
                message["parts"] = [{"platformReference": self.sim.random.hex(16)} for _ in range(units)]
                message["chargeableUnits"] = units
            updates.append((new_status, dumps(message), seq))
            events.append((message, channel, job.due_at, seq))
            nxt = None if forced else lifecycle.next_step(new_status, outcome)
            if nxt is not None:
                step_name = nxt[0]
                if step_name == "expire":
                    due = expires
                else:
                    due = job.due_at + lifecycle.delay_ms(self.world, channel, step_name, self.sim.random.rng.random())
                    due = min(due, expires)
                moves.append((due, job.id))
                if job.payload.get("seq") != seq:
                    learned.append((dumps({**job.payload, "seq": seq}), job.id))
        moved = {job_id for _, job_id in moves}
        async with self.sim.store.transaction() as tx:
            await sched.done(tx, [j for j in jobs if j.id not in moved])
            if updates:
                # By rowid: the id index was already walked once by the SELECT above.
                await tx.executemany("UPDATE bird_messages SET status=?, data=? WHERE seq=?", updates)
            await sched.reschedule(tx, moves)
            if learned:
                await tx.executemany("UPDATE jobs SET payload = ? WHERE id = ?", learned)
            for message, channel, due_at, seq in events:
                # Jobs of several due times share this batch: webhooks must carry each event's own time.
                self.sim.clock.set(due_at)
                await self.emit(tx, "sms.outbound", message, {"channel": channel, "atMs": due_at, "seq": seq})

    async def force(self, message_id: str, status: str, failure: str | None = None) -> dict[str, Any]:
        """Apply an outcome now (control plane): cancels the scripted lifecycle of the message."""
        row = await self.sim.store.fetch_one("SELECT data, channel_id FROM bird_messages WHERE id=?", (message_id,))
        if row is None:
            raise NotFound(f"message {message_id} not found")
        now = self.sim.clock.now_ms()
        async with self.sim.store.transaction() as tx:
            await tx.execute("DELETE FROM jobs WHERE kind=? AND ref=?", (lifecycle.JOB_KIND, message_id))
            await sched.schedule(tx, lifecycle.JOB_KIND, now, message_id, {"force": status, "failure": failure})
        await self.sim.scheduler.run_due()
        return await self.get_any(message_id)

    # -- read -----------------------------------------------------------------------------------------------------

    async def get(self, workspace_id: str, channel_id: str | None, message_id: str) -> dict[str, Any]:
        sql = "SELECT data FROM bird_messages WHERE id=? AND workspace_id=?"
        params: list[Any] = [message_id, workspace_id]
        if channel_id is not None:
            sql += " AND channel_id=?"
            params.append(channel_id)
        row = await self.sim.store.fetch_one(sql, params)
        if row is None:
            raise NotFound(f"message {message_id} not found")
        return loads(row[0])

    async def get_any(self, message_id: str) -> dict[str, Any]:
        row = await self.sim.store.fetch_one("SELECT data FROM bird_messages WHERE id=?", (message_id,))
        if row is None:
            raise NotFound(f"message {message_id} not found")
        return loads(row[0])

    async def list(self, q: ListQuery) -> dict[str, Any]:
        where = ["workspace_id = ?"]
        params: list[Any] = [q.workspace_id]
        if q.channel_id:
            where.append("channel_id = ?")
            params.append(q.channel_id)
        if q.statuses:
            where.append(f"status IN ({','.join('?' * len(q.statuses))})")
            params += q.statuses
        if q.direction:
            where.append("direction = ?")
            params.append(q.direction)
        if q.start_ms is not None:
            where.append("created_at >= ?")
            params.append(q.start_ms)
        if q.end_ms is not None:
            where.append("created_at <= ?")
            params.append(q.end_ms)
        if q.sender:
            where.append("sender = ?")
            params.append(q.sender)
        if q.recipient:
            where.append("recipient = ?")
            params.append(q.recipient)
        if q.phonenumber:
            where.append("(recipient = ? OR sender = ?)")
            params += [q.phonenumber, q.phonenumber]
        if q.tag:
            where.append("tags LIKE ?")
            params.append(f"%,{q.tag.lower()},%")
        if q.batch_id:
            where.append("batch_id = ?")
            params.append(q.batch_id)
        if q.contact_id:
            where.append("contact_id = ?")
            params.append(q.contact_id)
        if q.reference is not None:
            where.append("reference = ?")
            params.append(q.reference)
        if q.page_token:
            created, seq = decode_token(q.page_token)
            where.append("(created_at, seq) > (?, ?)" if q.reverse else "(created_at, seq) < (?, ?)")
            params += [created, seq]
        order = "ASC" if q.reverse else "DESC"
        rows = await self.sim.store.fetch_all(
            f"SELECT data, created_at, seq FROM bird_messages WHERE {' AND '.join(where)}"
            f" ORDER BY created_at {order}, seq {order} LIMIT ?",
            params + [q.limit + 1],
        )
        page = rows[: q.limit]
        result: dict[str, Any] = {"results": [loads(r[0]) for r in page]}
        if len(rows) > q.limit:
            last = page[-1]
            result["nextPageToken"] = encode_token(last[1], last[2])
        else:
            result["nextPageToken"] = ""
        return result

    async def interactions(self, workspace_id: str, channel_id: str, message_id: str) -> dict[str, Any]:
        await self.get(workspace_id, channel_id, message_id)
        rows = await self.sim.store.fetch_all(
            "SELECT data FROM bird_interactions WHERE message_id=? ORDER BY seq", (message_id,))
        return {"results": [loads(r[0]) for r in rows]}


def _text_of(message: dict[str, Any]) -> str:
    body = message.get("body") or {}
    kind = body.get("type")
    content = body.get(kind) if isinstance(kind, str) else None
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return content["text"]
    return ""


def encode_token(created_at: int, seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, seq]).encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, int]:
    try:
        padded = token + "=" * (-len(token) % 4)
        created, seq = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not all(isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**63 for v in (created, seq)):
            raise ValueError  # SQLite compares 64-bit integers only
        return created, seq
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise InvalidPayload.one("pageToken", "is not a page token this API issued; pass nextPageToken unchanged"
                                 ) from None
