"""Apple Messages for Business (Business Chat) MSP API: the gateway under /v1 and simulated customers."""
from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from simulator.business_chat.config import load_config
from simulator.business_chat.errors import bc_shape
from simulator.core.simulation import Simulation
from simulator.core.store import Tx


def install(sim: Simulation) -> tuple[list[BaseRoute], str, Any]:
    from simulator.business_chat.control import routes as control_routes
    from simulator.business_chat.routes import routes
    from simulator.business_chat.service import BusinessChat

    raw = sim.world.business_chat
    if raw:
        sim.providers["business_chat"] = BusinessChat(sim, load_config(raw))

    async def reset_scope(tx: Tx, scope: dict[str, str]) -> None:
        # A full reset already emptied every table; seeded customers/businesses live in the config.
        if "business" in scope:
            b = scope["business"]
            await tx.execute("DELETE FROM jobs WHERE kind='outbox.deliver' AND ref IN (SELECT CAST(id AS TEXT) FROM"
                             " outbox WHERE provider='business_chat' AND scope=?)", (b,))
            await tx.execute("DELETE FROM outbox WHERE provider='business_chat' AND scope=?", (b,))
            await tx.execute("DELETE FROM jobs WHERE kind LIKE 'business_chat.%' AND scope=?", (b,))
            for table in ("bc_device_messages", "bc_conversations", "bc_business_settings"):
                await tx.execute(f"DELETE FROM {table} WHERE business_id=?", (b,))  # noqa: S608 - fixed names
            await tx.execute("DELETE FROM bc_downloads WHERE blob_id IN (SELECT id FROM bc_blobs WHERE"
                             " business_id=?)", (b,))
            await tx.execute("DELETE FROM bc_blobs WHERE business_id=?", (b,))
            await tx.execute("DELETE FROM bc_customers WHERE business_id=?", (b,))
        if "customer" in scope:
            c = scope["customer"]
            await tx.execute("DELETE FROM jobs WHERE kind='outbox.deliver' AND ref IN (SELECT CAST(id AS TEXT) FROM"
                             " outbox WHERE provider='business_chat' AND ordering_key=?)", (c,))
            await tx.execute("DELETE FROM outbox WHERE provider='business_chat' AND ordering_key=?", (c,))
            await tx.execute("DELETE FROM jobs WHERE kind LIKE 'business_chat.%' AND ref=?", (c,))
            await tx.execute("DELETE FROM bc_device_messages WHERE customer_id=?", (c,))
            await tx.execute("DELETE FROM bc_conversations WHERE customer_id=?", (c,))
            await tx.execute("DELETE FROM bc_downloads WHERE blob_id IN (SELECT id FROM bc_blobs WHERE"
                             " customer_id=?)", (c,))
            await tx.execute("DELETE FROM bc_blobs WHERE customer_id=?", (c,))
            await tx.execute("DELETE FROM bc_customers WHERE id=?", (c,))

    sim.reset_hooks.append(reset_scope)
    return list(control_routes) + list(routes), "/v1", bc_shape
