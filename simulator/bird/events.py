"""The events Bird publishes on the simulation's bus. Its webhooks, auto-replies and status timeline subscribe to
them inside the transaction that changed the message; the live stream shows them after the commit."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from simulator.core.clock import iso_ms
from simulator.core.events import Event

if TYPE_CHECKING:
    from simulator.bird.config import Channel


@dataclass(slots=True, eq=False)  # not frozen: a frozen dataclass's __init__ is measurably slower per send
class MessageEvent(Event):
    """A message was sent, moved to another status, arrived (inbound) or got an interaction (read-only).

    ``name`` is Bird's webhook event: ``sms.outbound`` (an outgoing message's status), ``sms.inbound`` or
    ``sms.interaction`` (then ``interaction`` is the interaction object, the webhook's payload).
    """

    stream: ClassVar[str] = "bird.message"
    name: str
    message: dict[str, Any]
    channel: Channel
    at_ms: int
    seq: int | None = None  # the message's row id, when the publisher has it at hand
    notification_url: str | None = None  # a send's per-message webhook URL
    interaction: dict[str, Any] | None = None

    @property
    def message_id(self) -> str:
        return str(self.message.get("id", ""))

    @property
    def status(self) -> str:
        return str(self.message.get("status", ""))

    def stream_data(self) -> dict[str, Any]:
        return {"event": self.name, "id": self.message.get("id"), "status": self.status,
                "direction": self.message.get("direction"), "channelId": self.channel.id,
                "workspaceId": self.channel.workspace_id, "at": iso_ms(self.at_ms)}
