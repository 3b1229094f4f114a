"""The control plane under /_sim: health, world info, reset, clock, journal, faults, docs.

Providers add their own /_sim/<provider> routes."""
from __future__ import annotations

from starlette.routing import BaseRoute

from simulator.core.simulation import Simulation


def install(sim: Simulation) -> list[BaseRoute]:
    from simulator.control.api import routes as api_routes
    from simulator.control.routes import routes
    from simulator.control.state import install_state

    install_state(sim)
    return list(routes) + list(api_routes)
