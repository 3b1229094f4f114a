"""The events Business Chat publishes on the simulation's bus: a conversation changed (the live stream tells the
web UI to refresh that customer's device)."""
from __future__ import annotations

from dataclasses import dataclass
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
