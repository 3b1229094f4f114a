"""Bird Channels API (SMS/MMS): routes, backend and error shape."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute

from simulator.bird.errors import bird_shape
from simulator.bird.messages import BirdMessages
from simulator.core.simulation import Simulation
from simulator.core.store import Tx


@dataclass
class BirdProvider:
    messages: BirdMessages


def install(sim: Simulation) -> tuple[list[BaseRoute], str, Any]:
    from simulator.bird.control import routes as control_routes
    from simulator.bird.routes import routes

    provider = BirdProvider(messages=BirdMessages(sim))
    sim.providers["bird"] = provider

    async def reset_scope(tx: Tx, scope: dict[str, str]) -> None:
        for key, column in (("workspace", "workspace_id"), ("channel", "channel_id")):
            if key in scope:
                ids = f"SELECT id FROM bird_messages WHERE {column}=?"
                await tx.execute(f"DELETE FROM jobs WHERE ref IN ({ids})", (scope[key],))
                await tx.execute(f"DELETE FROM bird_interactions WHERE {column}=?", (scope[key],))
                await tx.execute(f"DELETE FROM bird_messages WHERE {column}=?", (scope[key],))
        if "workspace" in scope:
            await tx.execute("DELETE FROM bird_contacts WHERE workspace_id=?", (scope["workspace"],))
            await tx.execute("DELETE FROM outbox WHERE scope=? AND provider='bird'", (scope["workspace"],))

    sim.reset_hooks.append(reset_scope)
    return list(control_routes) + list(routes), "", bird_shape
