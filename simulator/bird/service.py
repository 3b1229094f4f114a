"""Bird's send, single and batch: store the message, give it its first status and start its lifecycle, in one
transaction with its webhook. The handlers validated the request; this never sees HTTP."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator.bird import contacts, lifecycle
from simulator.bird.config import BirdWorld, Channel
from simulator.bird.errors import InvalidPayload
from simulator.bird.events import MessageEvent
from simulator.bird.lifecycle import FAILURES, Lifecycle, Status, Verdict
from simulator.bird.messages import Messages, Row
from simulator.bird.validation import invalid_input, receiver_address
from simulator.core.clock import iso_ms, parse_rfc3339
from simulator.core.codec import dumps
from simulator.core.store import Tx

if TYPE_CHECKING:
    from simulator.bird.customers import Customers
    from simulator.bird.media import Media
    from simulator.core.simulation import Simulation

# A send whose scheduledFor is at most this far ahead goes out now (status accepted, not scheduled).
IMMEDIATE_WINDOW_MS = 10 * 60 * 1000
_ACCEPTED, _SCHEDULED = Status.ACCEPTED.value, Status.SCHEDULED.value  # plain strings on the hot path


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else {}: rejected batch items are stored as sent, whatever their shape."""
    return value if isinstance(value, dict) else {}


def text_of(message: dict[str, Any]) -> str:
    body = message.get("body") or {}
    kind = body.get("type")
    content = body.get(kind) if isinstance(kind, str) else None
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return str(content["text"])
    return ""


class Sender:
    def __init__(self, sim: Simulation, world: BirdWorld, messages: Messages, lifecycle: Lifecycle, media: Media,
                 customers: Customers) -> None:
        self.sim = sim
        self.world = world
        self.messages = messages
        self.lifecycle = lifecycle
        self.media = media
        self.customers = customers

    async def store_issues(self, channel: Channel, request: Any) -> dict[str, list[str]]:
        """What only the store can tell about a request that passed the other checks (its MMS media exist)."""
        return await self.media.send_issues(channel, request) if isinstance(request, dict) else {}

    async def send(self, channel: Channel, request: dict[str, Any]) -> dict[str, Any]:
        """Store an outgoing message and start its lifecycle. The caller validated ``request``."""
        async with self.sim.store.transaction() as tx:
            # Read under the write lock: a reset or an advance that ran while this waited for it came first.
            now = self.sim.clock.now_ms()
            return await self._store_outgoing(tx, channel, request, now, None, None)

    async def send_batch(self, channel: Channel, items: list[Any], validate: Callable[[Any], dict[str, list[str]]]
                         ) -> dict[str, Any]:
        """Every item is stored: one that fails ``validate`` as ``rejected`` with Bird's pre-processing failure."""
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
        contact: dict[str, Any] | None
        if rejected is None:
            if number:
                contact, _ = await contacts.find_or_create(tx, rand, channel.workspace_id, "phonenumber", number, now)
            else:
                found = await contacts.get_by_id(tx, channel.workspace_id, str(first.get("id", "")))
                problem = None if found else f'contact "{first.get("id")}" does not exist'
                if found is not None:
                    number = next((i["value"] for i in found["featuredIdentifiers"] if i["key"] == "phonenumber"),
                                  "")
                    problem = None if number else "contact has no phone number identifier"
                if problem is not None:
                    if batch_id is None:
                        raise InvalidPayload.one(".receiver.contacts[0].id", problem)
                    # In a batch this is the item's failure, not the batch's: Bird rejects it asynchronously.
                    rejected = invalid_input({".receiver.contacts[0].id": [problem]})
                contact = found
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
            "status": _ACCEPTED,
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
        validity = request.get("validity")
        validity_s = int(validity) if isinstance(validity, int | float) and not isinstance(validity, bool) \
            else channel.default_validity
        start = scheduled_ms if scheduled_ms and scheduled_ms > now else now
        expires_at = start + validity_s * 1000
        outcome = lifecycle.outcome_for(self.world, number) if number else "rejected"
        verdict: Verdict | None = None
        if rejected is None:
            verdict = await self.customers.opt_out_verdict(tx, channel, contact_out)
        if rejected is not None:
            lifecycle.apply(message, Status.REJECTED, now, failure=rejected)
        elif verdict is not None:
            lifecycle.apply(message, verdict.status, now,
                            failure=FAILURES.get(verdict.failure) if verdict.failure else None)
        elif scheduled_ms is not None and scheduled_ms > now + IMMEDIATE_WINDOW_MS:
            message["status"] = _SCHEDULED
        # Inserted now (not deferred): its rowid goes into the lifecycle job, so each transition finds the row
        # without the id index.
        seq = await self.messages.insert(tx, Row(
            message_id, channel.workspace_id, channel.id, "outgoing", message["status"], now, batch_id, channel.number,
            number, contact_out.get("id", ""), message["reference"], tags), dumps(message))
        if message["status"] in (_ACCEPTED, _SCHEDULED):
            await self.lifecycle.start(tx, channel, message_id, seq, message["status"], outcome, now, scheduled_ms,
                                       expires_at, text_of(message))
        # The webhook layer uses the URL only if it is a non-empty string.
        url = _object(request.get("notification")).get("url")
        await self.sim.events.emit(tx, MessageEvent("sms.outbound", message, channel, now, seq,
                                                    url if isinstance(url, str) and url else None))
        return message
