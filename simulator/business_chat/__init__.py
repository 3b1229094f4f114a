"""Apple Messages for Business (Business Chat) MSP API: the gateway under /v1 and simulated customers."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.business_chat.provider import BusinessChatProvider
    from simulator.core.simulation import Simulation


def create(sim: Simulation) -> BusinessChatProvider:
    from simulator.business_chat.provider import BusinessChatProvider

    return BusinessChatProvider(sim)
