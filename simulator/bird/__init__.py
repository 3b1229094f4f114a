"""Bird Channels API (SMS/MMS) and Notifications API: the provider, its routes, backend and error shape."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.bird.provider import BirdProvider
    from simulator.core.simulation import Simulation


def create(sim: Simulation) -> BirdProvider:
    from simulator.bird.provider import BirdProvider

    return BirdProvider(sim)
