"""The control plane under /_sim: health, world info, reset, clock. Providers add their own /_sim/<provider> routes."""
from __future__ import annotations

from starlette.routing import BaseRoute

from simulator.core.simulation import Simulation


def install(sim: Simulation) -> list[BaseRoute]:
    from simulator.control.routes import routes

    return list(routes)
