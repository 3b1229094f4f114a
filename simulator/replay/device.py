"""What a simulated Business Chat customer's device shows, read through the provider's control endpoint."""
from __future__ import annotations

from typing import Any

from simulator.replay.expectations import Unmet
from simulator.testing import SimClient


def device_messages(client: SimClient, customer: str, business: str | None = None) -> list[dict[str, Any]]:
    response = client.http.get(f"/_sim/business-chat/customers/{customer}/device")
    if response.status_code != 200:
        raise Unmet(f"cannot read the device of {customer}: {response.status_code} {response.text[:300]}")
    messages: list[dict[str, Any]] = response.json().get("messages") or []
    if business:
        messages = [m for m in messages if business in (m.get("businessId"), m.get("sourceId"))]
    return messages
