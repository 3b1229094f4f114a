"""The events Business Chat publishes on the simulation's bus: a conversation changed (the live stream tells the
web UI to refresh that customer's device)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from simulator.core.events import Event


@dataclass(frozen=True, slots=True)
class ConversationEvent(Event):
    """``business.message``: the gateway accepted a business's message for a customer's device;
    ``customer.action``: the customer did something (wrote, answered, closed ...), by hand or by script."""

    stream: ClassVar[str] = "businessChat"
    name: str
    business_id: str
    customer_id: str

    def stream_data(self) -> dict[str, Any]:
        return {"event": self.name, "businessId": self.business_id, "customerId": self.customer_id}


@dataclass(slots=True, eq=False)
class DeviceMessage(Event):
    """A message reached a customer's device from the business (``direction`` "received") or left it for the
    business ("sent"): the envelope as stored and the device's view of it. Not streamed (ConversationEvent tells
    the web UI); behaviour coverage reads it.

    ``by_reference``: the interactive payload travelled as a data ref; ``reopened``: the customer wrote into a
    conversation they had closed."""

    direction: str
    business_id: str
    customer_id: str
    body: dict[str, Any]
    view: dict[str, Any] = field(default_factory=dict)
    feature: str = ""
    by_reference: bool = False
    reopened: bool = False
