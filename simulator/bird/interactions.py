"""SMS message interactions: link clicks and keyword opt-outs/opt-ins, stored and pushed as `sms.interaction`.

Interaction object per docs.bird.com "SMS message interactions". The webhook payload is the interaction
itself; listeners receive the message it belongs to with ``context["interaction"]``.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from simulator.bird.config import PLATFORM_ID, BirdWorld
from simulator.bird.errors import BirdError, NotFound
from simulator.bird.events import MessageEvent
from simulator.bird.messages import Messages
from simulator.core.clock import iso_ms
from simulator.core.store import Tx

if TYPE_CHECKING:
    from simulator.core.simulation import Simulation

OPT_OUT_KEYWORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")
OPT_IN_KEYWORDS = ("START", "UNSTOP", "YES")


def keyword_of(text: str) -> str | None:
    """The carrier keyword a whole message amounts to ("stop", " STOP! " → STOP), or None."""
    word = text.strip().strip(".!?").strip().upper()
    return word if word in OPT_OUT_KEYWORDS or word in OPT_IN_KEYWORDS else None


class Interactions:
    def __init__(self, sim: Simulation, world: BirdWorld, messages: Messages) -> None:
        self.sim = sim
        self.world = world
        self.messages = messages

    async def create(self, tx: Tx, message: dict[str, Any], kind: str, *, at_ms: int, details: str = "",
                     metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store an interaction on ``message`` and emit ``sms.interaction`` inside ``tx``."""
        channel = self.world.channel(message["channelId"])
        if channel is None:
            raise NotFound(f"channel {message['channelId']} not found")
        metadata = dict(metadata or {})
        prefetched = bool(metadata.get("prefetched", False))
        row = await tx.fetch_one(
            "SELECT COUNT(*) FROM bird_interactions WHERE message_id=? AND type=?"
            " AND data NOT LIKE '%\"prefetched\":true%'",
            (message["id"], kind))
        first_human = row is None or row[0] == 0
        row_any = await tx.fetch_one("SELECT COUNT(*) FROM bird_interactions WHERE message_id=? AND type=?",
                                     (message["id"], kind))
        contacts = (message.get("receiver") or {}).get("contacts") or []
        receiver = {"contacts": [{k: c.get(k) for k in ("id", "identifierKey", "identifierValue") if k in c}
                                 for c in contacts[:1]]}
        parts = message.get("parts") or []
        interaction: dict[str, Any] = {
            "id": self.sim.random.uuid(),
            "messageId": message["id"],
            "channelId": message["channelId"],
            "platformId": PLATFORM_ID,
            "type": kind,
            "receiver": receiver,
            "details": details,
            "metadata": metadata,
            "context": {"id": message["id"], "type": "message", "tags": list(message.get("tags") or [])},
            "messageReference": message.get("reference", ""),
            "messagePartsCount": len(parts),
            "messageTags": list(message.get("tags") or []),
            "messageCreatedAt": message.get("createdAt"),
            # Studio template, journey and notification the message came from: SMS sends here have none of them.
            "bodyTemplateProjectId": ((message.get("template") or {}).get("projectId") or "")
            if isinstance(message.get("template"), dict) else "",
            "journey": None,
            "notification": None,
            "isFirstInteraction": first_human and not prefetched,
            "isFirstInteractionIncludingBots": row_any is None or row_any[0] == 0,
            "platformReferenceId": parts[0]["platformReference"] if parts else "",
            "createdAt": iso_ms(at_ms),
        }
        await tx.execute(
            "INSERT INTO bird_interactions (id, message_id, channel_id, workspace_id, type, created_at, data)"
            " VALUES (?,?,?,?,?,?,?)",
            (interaction["id"], message["id"], message["channelId"], channel.workspace_id, kind, at_ms,
             json.dumps(interaction, separators=(",", ":"), ensure_ascii=False)))
        await self.sim.events.emit(tx, MessageEvent("sms.interaction", message, channel, at_ms,
                                                    interaction=interaction))
        return interaction

    async def click(self, message_id: str, url: str, *, prefetched: bool = False) -> dict[str, Any]:
        """A recipient (or a link-preview bot, ``prefetched``) opens a tracked link in an outgoing message."""
        message = await self.messages.get_any(message_id)
        if message.get("direction") != "outgoing":
            raise BirdError(f"message {message_id} is incoming; only outgoing messages carry tracked links",
                            status=409, code="Conflict")
        async with self.sim.store.transaction() as tx:
            return await self.create(tx, message, "clicked", at_ms=self.sim.clock.now_ms(),
                                     metadata={"link": {"name": "", "url": url}, "prefetched": prefetched})
