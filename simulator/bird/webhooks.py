"""Bird webhook delivery: match an event against the workspace's subscriptions, sign it exactly as Bird signs,
and write it to the durable outbox inside the transaction that caused it.

Signature (docs.bird.com "Verifying a webhook subscription")::

    messagebird-signature = base64(HMAC-SHA256(signingKey, ts + "\\n" + url + "\\n" + SHA256(body)))

where ``SHA256(body)`` is the raw 32-byte digest (not hex) and ``ts`` is ``messagebird-request-timestamp``
(unix seconds on the simulator's clock when the event was written). Retries reuse the stored headers, so a
retry carries the original timestamp and signature, as Bird's do.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from simulator.bird.config import PLATFORM_ID
from simulator.bird.events import MessageEvent
from simulator.bird.lifecycle import DLR_STATUSES
from simulator.core.knobs import Extension
from simulator.core.store import Tx

if TYPE_CHECKING:
    from simulator.core.simulation import Simulation

# Bird's extension of the shared webhook knobs (/_sim/webhooks): hold delivery reports back.
DLR_DELAY = "dlrDelaySeconds"
DLR_DELAY_KNOB = Extension(0.0, 86400.0 * 7, "seconds by which Bird delays delivery-report (DLR) webhooks")
USER_AGENT = "Bird-Webhooks/1.0 (provider-simulator)"


def sign(signing_key: str, timestamp: str, url: str, body: bytes) -> str:
    """Bird's webhook signature, base64 encoded."""
    payload = timestamp.encode() + b"\n" + url.encode() + b"\n" + hashlib.sha256(body).digest()
    return base64.b64encode(hmac.new(signing_key.encode(), payload, hashlib.sha256).digest()).decode()


def envelope_bytes(event: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"service": "channels", "event": event, "payload": payload},
                      separators=(",", ":"), ensure_ascii=False).encode()


def event_facts(event: MessageEvent) -> dict[str, str]:
    """The values eventFilters are matched against. A filter whose key has no value here does not match."""
    facts = {"channelId": str(event.message.get("channelId", "")), "platformId": PLATFORM_ID}
    if event.interaction is not None:
        facts["interactionType"] = str(event.interaction.get("type", ""))
    else:
        facts["messageStatus"] = event.status
    return facts


def filters_match(filters: list[dict[str, str]], facts: dict[str, str]) -> bool:
    return all(f.get("key") in facts and facts[f["key"]] == f.get("value") for f in filters)


class Webhooks:
    """Bird's webhooks: every message event matched against the workspace's subscriptions, signed, enqueued."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        sim.outbox.knobs.declare(DLR_DELAY, DLR_DELAY_KNOB)

    async def on_message(self, tx: Tx, event: MessageEvent) -> None:
        """Bus subscriber: runs inside the transaction that changed the message."""
        message = event.message
        workspace_id = event.channel.workspace_id
        name = event.name
        message_id = event.message_id
        notification_url = event.notification_url
        if notification_url:
            await tx.execute("INSERT INTO bird_notification_urls (message_id, workspace_id, url) VALUES (?,?,?)"
                             " ON CONFLICT (message_id) DO UPDATE SET workspace_id=excluded.workspace_id,"
                             " url=excluded.url", (message_id, workspace_id, notification_url))

        async def load() -> tuple[Any, ...]:
            return tuple(await tx.fetch_all(
                "SELECT id, url, signing_key, filters FROM bird_webhook_subscriptions"
                " WHERE workspace_id=? AND event=? AND status='active' ORDER BY seq", (workspace_id, name)))

        rows = await tx.read_through("bird_webhook_subscriptions", (workspace_id, name), load)
        if not rows:
            return
        facts = event_facts(event)
        matching = [r for r in rows if filters_match(json.loads(r[3]), facts)]
        if not matching:
            return
        if not notification_url and name == "sms.outbound":
            row = await tx.fetch_one("SELECT url FROM bird_notification_urls WHERE message_id=?", (message_id,))
            notification_url = row[0] if row is not None else None
        payload = event.interaction if event.interaction is not None else message
        body = envelope_bytes(name, payload)
        timestamp = str(self.sim.clock.now_ms() // 1000)
        delay = 0.0
        if name == "sms.outbound" and message.get("status") in DLR_STATUSES:
            delay = self.sim.outbox.knobs.extension(DLR_DELAY)
        seen_urls: set[str] = set()
        for sub_id, sub_url, signing_key, _ in matching:
            # A per-message notification.url replaces the subscription's URL (one copy per URL).
            url = notification_url if isinstance(notification_url, str) and notification_url else sub_url
            if url in seen_urls:
                continue
            seen_urls.add(url)
            request_id = self.sim.random.uuid()
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "messagebird-request-id": request_id,
                "messagebird-request-timestamp": timestamp,
            }
            if signing_key:
                headers["messagebird-signature"] = sign(signing_key, timestamp, url, body)
            await self.sim.outbox.enqueue(
                tx, provider="bird", event=name, url=url, headers=headers, body=body, request_id=request_id,
                ordering_key=message_id, subscription_id=sub_id, scope=workspace_id, delay_s=delay)
