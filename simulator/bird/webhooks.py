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
from dataclasses import dataclass
from typing import Any

from simulator.core.simulation import Simulation
from simulator.core.store import Tx

PLATFORM_ID = "sms-messagebird"
DLR_STATUSES = ("delivered", "delivery_failed")
USER_AGENT = "Bird-Webhooks/1.0 (provider-simulator)"


def sign(signing_key: str, timestamp: str, url: str, body: bytes) -> str:
    """Bird's webhook signature, base64 encoded."""
    payload = timestamp.encode() + b"\n" + url.encode() + b"\n" + hashlib.sha256(body).digest()
    return base64.b64encode(hmac.new(signing_key.encode(), payload, hashlib.sha256).digest()).decode()


def envelope_bytes(event: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"service": "channels", "event": event, "payload": payload},
                      separators=(",", ":"), ensure_ascii=False).encode()


def event_facts(event: str, message: dict[str, Any], context: dict[str, Any]) -> dict[str, str]:
    """The values eventFilters are matched against. A filter whose key has no value here does not match."""
    facts = {"channelId": str(message.get("channelId", "")), "platformId": PLATFORM_ID}
    interaction = context.get("interaction")
    if event.endswith(".interaction") and isinstance(interaction, dict):
        facts["interactionType"] = str(interaction.get("type", ""))
    else:
        facts["messageStatus"] = str(message.get("status", ""))
    return facts


def filters_match(filters: list[dict[str, str]], facts: dict[str, str]) -> bool:
    return all(f.get("key") in facts and facts[f["key"]] == f.get("value") for f in filters)


@dataclass
class DeliveryKnobs:
    """Bird-only knob on top of the shared outbox knobs: hold delivery reports (DLR webhooks) back."""

    dlr_delay_s: float = 0.0


class Delivery:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.knobs = DeliveryKnobs()

    async def on_event(self, tx: Tx, event: str, message: dict[str, Any], context: dict[str, Any]) -> None:
        """Listener on BirdMessages: runs inside the transaction that changed the message."""
        channel = context.get("channel")
        workspace_id = getattr(channel, "workspace_id", None)
        if workspace_id is None:
            found = self.sim.world.bird.channel(str(message.get("channelId", "")))
            if found is None:
                return
            workspace_id = found.workspace_id
        message_id = str(message.get("id", ""))
        notification_url = context.get("notificationUrl")
        if isinstance(notification_url, str) and notification_url:
            await tx.execute("INSERT OR REPLACE INTO bird_notification_urls (message_id, workspace_id, url)"
                             " VALUES (?,?,?)", (message_id, workspace_id, notification_url))
        async def load() -> tuple[Any, ...]:
            return tuple(await tx.fetch_all(
                "SELECT id, url, signing_key, filters FROM bird_webhook_subscriptions"
                " WHERE workspace_id=? AND event=? AND status='active' ORDER BY seq", (workspace_id, event)))

        rows = await tx.read_through("bird_webhook_subscriptions", (workspace_id, event), load)
        if not rows:
            return
        facts = event_facts(event, message, context)
        matching = [r for r in rows if filters_match(json.loads(r[3]), facts)]
        if not matching:
            return
        if not (isinstance(notification_url, str) and notification_url) and event == "sms.outbound":
            row = await tx.fetch_one("SELECT url FROM bird_notification_urls WHERE message_id=?", (message_id,))
            notification_url = row[0] if row is not None else None
        interaction = context.get("interaction")
        payload = interaction if event.endswith(".interaction") and isinstance(interaction, dict) else message
        body = envelope_bytes(event, payload)
        timestamp = str(self.sim.clock.now_ms() // 1000)
        delay = 0.0
        if event == "sms.outbound" and message.get("status") in DLR_STATUSES:
            delay = self.knobs.dlr_delay_s
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
                tx, provider="bird", event=event, url=url, headers=headers, body=body, request_id=request_id,
                ordering_key=message_id, subscription_id=sub_id, scope=workspace_id, delay_s=delay)
