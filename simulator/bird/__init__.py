"""Bird Channels API (SMS/MMS): routes, backend and error shape."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute

from simulator.bird.connectors import Connectors
from simulator.bird.webhooks import Delivery
from simulator.bird.errors import bird_shape
from simulator.bird.customers import AUTO_REPLY_JOB, Inbound
from simulator.bird.media import Media
from simulator.bird.rate_limits import RateLimits
from simulator.bird.messages import BirdMessages
from simulator.bird.subscriptions import Subscriptions
from simulator.core.simulation import Simulation
from simulator.core.store import Tx


@dataclass
class BirdProvider:
    messages: BirdMessages
    media: Media
    subscriptions: Subscriptions
    delivery: Delivery
    inbound: Inbound
    connectors: Connectors
    rate_limits: RateLimits

    def on_full_reset(self) -> None:
        """A full reset deleted every media row: the files go too. Knobs return to their defaults."""
        shutil.rmtree(self.media.root, ignore_errors=True)
        self.delivery.knobs.dlr_delay_s = 0.0
        self.rate_limits.restore()


def install(sim: Simulation) -> tuple[list[BaseRoute], str, Any]:
    from simulator.bird.control import routes as control_routes
    from simulator.bird.routes import routes

    messages = BirdMessages(sim)
    provider = BirdProvider(messages=messages, media=Media(sim), subscriptions=Subscriptions(sim),
                            delivery=Delivery(sim), inbound=Inbound(sim),
                            connectors=Connectors(sim),
                            rate_limits=RateLimits.from_config(
                                sim.clock, (sim.world.raw.get("bird") or {}).get("rate_limits")))
    sim.providers["bird"] = provider
    messages.listeners.append(provider.delivery.on_event)
    messages.listeners.append(provider.inbound.on_event)
    messages.send_policies.append(provider.inbound.opt_out_policy)
    messages.validators.append(provider.media.send_issues)

    async def reset_scope(tx: Tx, scope: dict[str, str]) -> None:
        for table in ("bird_contacts", "bird_opt_outs", "bird_webhook_subscriptions"):
            tx.forget(table)
        doomed_media: list[str] = []
        for key, column in (("workspace", "workspace_id"), ("channel", "channel_id")):
            if key in scope:
                ids = f"SELECT id FROM bird_messages WHERE {column}=?"
                await tx.execute(f"DELETE FROM jobs WHERE ref IN ({ids})", (scope[key],))
                await tx.execute(f"DELETE FROM bird_notification_urls WHERE message_id IN ({ids})", (scope[key],))
                await tx.execute(f"DELETE FROM bird_interactions WHERE {column}=?", (scope[key],))
                await tx.execute(f"DELETE FROM bird_messages WHERE {column}=?", (scope[key],))
                await tx.execute(f"DELETE FROM bird_opt_outs WHERE {column}=?", (scope[key],))
                rows = await tx.fetch_all(f"SELECT id FROM bird_media WHERE {column}=?", (scope[key],))
                doomed_media += [r[0] for r in rows]
                await tx.execute(f"DELETE FROM bird_media WHERE {column}=?", (scope[key],))
        if "workspace" in scope:
            ws = scope["workspace"]
            await tx.execute("DELETE FROM bird_contacts WHERE workspace_id=?", (ws,))
            await tx.execute("DELETE FROM bird_webhook_subscriptions WHERE workspace_id=?", (ws,))
            await tx.execute("DELETE FROM bird_notification_urls WHERE workspace_id=?", (ws,))
            await tx.execute("DELETE FROM jobs WHERE kind=? AND scope=?", (AUTO_REPLY_JOB, ws))
            await tx.execute("DELETE FROM outbox_attempts WHERE outbox_id IN"
                             " (SELECT id FROM outbox WHERE scope=? AND provider='bird')", (ws,))
            await tx.execute("DELETE FROM outbox WHERE scope=? AND provider='bird'", (ws,))

        def remove_files() -> None:
            for media_id in doomed_media:
                try:
                    provider.media.path_of(media_id).unlink(missing_ok=True)
                except (ValueError, OSError):
                    pass

        if doomed_media:
            tx.after_commit.append(remove_files)

    sim.reset_hooks.append(reset_scope)
    sim.reset_hooks.append(provider.connectors.on_reset)
    sim.open_hooks.append(provider.connectors.load)
    return list(control_routes) + list(routes), "", bird_shape
