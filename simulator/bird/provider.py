"""Bird's provider: its parts wired together and what it gives the simulation through the provider contract
(routes, control routes, error shape, job kinds, events, scoped and full resets, its part of /_sim/info)."""
from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from simulator.bird import lifecycle
from simulator.bird.config import BirdWorld
from simulator.bird.connectors import Connectors
from simulator.bird.customers import AUTO_REPLY_JOB, Customers
from simulator.bird.errors import bird_shape
from simulator.bird.events import MessageEvent
from simulator.bird.interactions import Interactions
from simulator.bird.lifecycle import Lifecycle
from simulator.bird.media import Media
from simulator.bird.messages import Messages
from simulator.bird.rate_limits import RateLimits
from simulator.bird.service import Sender
from simulator.bird.subscriptions import Subscriptions
from simulator.bird.timeline import Timeline
from simulator.bird.webhooks import Webhooks
from simulator.core import scheduler as sched
from simulator.core.coverage import Behaviour, Tally, load_catalogue
from simulator.core.provider import JobKind, Provider
from simulator.core.retention import DAY_S, Dependent, RetentionKind
from simulator.core.simulation import Simulation
from simulator.core.store import Tx

RATE_LIMITS_STATE = "bird.rate_limits"  # the limits set through the control plane (core/state.py)
# A message may go once it is finished (the partial index bird_messages_finished has this very condition): one
# still moving or scheduled up to 35 days ahead stays however old it is. ORs, not IN: see migration 0017.
FINISHED = ("(status = 'delivered' OR status = 'delivery_failed' OR status = 'sending_failed' OR status = 'rejected'"
            " OR status = 'skipped' OR status = 'deleted')")


class BirdProvider(Provider):
    name = "bird"
    api_prefix = ""  # Bird's paths start at the root (/workspaces/...)
    control_prefix = "/_sim/bird"
    scope_keys = ("workspace", "channel")
    event_types = (MessageEvent,)
    # The status timeline keys its rows by the message's rowid: a rowid must never name two messages.
    durable_sequences = ("bird_messages",)
    coverage_scope = "workspace"

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.world: BirdWorld = sim.world.bird
        self.messages = Messages(sim.store)
        self.media = Media(sim)
        self.interactions = Interactions(sim, self.world, self.messages)
        self.customers = Customers(sim, self.world, self.messages, self.media, self.interactions)
        self.lifecycle = Lifecycle(sim, self.world, self.messages)
        self.sender = Sender(sim, self.world, self.messages, self.lifecycle, self.media, self.customers)
        self.subscriptions = Subscriptions(sim, self.world)
        self.webhooks = Webhooks(sim)
        self.timeline = Timeline(sim.store, self.messages)
        self.connectors = Connectors(sim)
        self.rate_limits = RateLimits.from_config(sim.clock, (sim.world.raw.get("bird") or {}).get("rate_limits"))
        for subscriber in (self.webhooks.on_message, self.customers.on_message, self.timeline.on_message):
            sim.events.on(MessageEvent, subscriber)

    def behaviours(self) -> tuple[Behaviour, ...]:
        return _catalogue()

    def count_behaviours(self, tally: Tally) -> None:
        from simulator.bird.coverage import BirdCoverage

        BirdCoverage(self.world, tally).subscribe(self.sim.events)

    def routes(self) -> list[BaseRoute]:
        from simulator.bird.routes import routes

        return list(routes)

    def control_routes(self) -> list[BaseRoute]:
        from simulator.bird.control import routes

        return list(routes)

    def error_response(self, status: int, code: str, message: str) -> Response:
        return bird_shape(status, code, message)

    def job_kinds(self) -> dict[str, JobKind]:
        # spans_times: the transition handler moves the clock to each job's own due time.
        return {lifecycle.JOB_KIND: JobKind(self.lifecycle.run, spans_times=True),
                AUTO_REPLY_JOB: JobKind(self.customers.run_auto_replies)}

    def retention_kinds(self) -> tuple[RetentionKind, ...]:
        # Bird documents no retention for messages or media: 30 days is our stated choice (docs/retention.md).
        return (
            RetentionKind("bird.messages", "bird_messages", "created_at", 30 * DAY_S, where=FINISHED,
                          dependents=(Dependent("bird_status_history", "message_seq", "seq"),
                                      Dependent("bird_interactions", "message_id", "id"),
                                      Dependent("bird_notification_urls", "message_id", "id")),
                          summary="finished messages (batches' too) with their status history, interactions and"
                                  " notification URLs (by creation)"),
            RetentionKind("bird.media", "bird_media", "created_at", 30 * DAY_S, removed=self.media.removed,
                          summary="uploaded and inbound media with their bytes (by creation)"),
        )

    async def open(self) -> None:
        if self.sim.fleet.active:
            self.rate_limits.shared = self.sim.fleet.take_window_slot
        await self.connectors.load()
        saved = await self.sim.state.load(RATE_LIMITS_STATE)
        if saved is not None:
            self.rate_limits.loads(saved)

    async def reload(self) -> None:
        await self.connectors.reload()
        saved = await self.sim.state.load(RATE_LIMITS_STATE)
        if saved is not None:
            self.rate_limits.loads(saved)
        else:
            self.rate_limits.restore()

    async def reset_scope(self, tx: Tx, scope: dict[str, str]) -> None:
        for table in ("bird_contacts", "bird_opt_outs", "bird_webhook_subscriptions"):
            tx.forget(table)
        doomed_media: list[str] = []
        for key, column in (("workspace", "workspace_id"), ("channel", "channel_id")):
            if key in scope:
                await self.timeline.reset_scope(tx, column, scope[key])  # through the messages: before they go
                await sched.cancel(tx, refs_in=self.messages.ids_in(column, scope[key]))
                ids = f"SELECT id FROM bird_messages WHERE {column}=?"  # noqa: S608 - fixed column names
                await tx.execute(f"DELETE FROM bird_notification_urls WHERE message_id IN ({ids})", (scope[key],))  # noqa: S608 - fixed column names
                await tx.execute(f"DELETE FROM bird_interactions WHERE {column}=?", (scope[key],))  # noqa: S608 - fixed column names
                await tx.execute(f"DELETE FROM bird_messages WHERE {column}=?", (scope[key],))  # noqa: S608 - fixed column names
                await tx.execute(f"DELETE FROM bird_opt_outs WHERE {column}=?", (scope[key],))  # noqa: S608 - fixed column names
                rows = await tx.fetch_all(f"SELECT id FROM bird_media WHERE {column}=?", (scope[key],))  # noqa: S608 - fixed column names
                doomed_media += [r[0] for r in rows]
                if self.sim.store.dialect == "postgresql":
                    await tx.execute(f"DELETE FROM bird_media_bytes WHERE id IN (SELECT id FROM bird_media WHERE"  # noqa: S608
                                     f" {column}=?)", (scope[key],))
                await tx.execute(f"DELETE FROM bird_media WHERE {column}=?", (scope[key],))  # noqa: S608 - fixed column names
        if "workspace" in scope:
            ws = scope["workspace"]
            await tx.execute("DELETE FROM bird_contacts WHERE workspace_id=?", (ws,))
            await tx.execute("DELETE FROM bird_webhook_subscriptions WHERE workspace_id=?", (ws,))
            await tx.execute("DELETE FROM bird_notification_urls WHERE workspace_id=?", (ws,))
            await sched.cancel(tx, kinds=(AUTO_REPLY_JOB,), scope=ws)
            await self.sim.outbox.deliveries.delete(tx, self.name, scope=ws)
        await self.connectors.on_reset(tx, scope)

        self.media.bytes.remove(tx, doomed_media)

    def after_full_reset(self) -> None:
        """A full reset deleted every media row: the files go too. Rate limits return to the config's."""
        self.media.bytes.clear()
        self.rate_limits.restore()
        self.sim.state.changed(RATE_LIMITS_STATE, self.rate_limits.dumps)

    def describe(self) -> dict[str, Any]:
        world = self.world
        return {"bird": {
            "organizationId": world.organization_id,
            "accessKeys": [{"key": k.key, "name": k.name, "allowedPaths": list(k.allowed_paths),
                            "allowedMethods": list(k.allowed_methods)} for k in world.access_keys.values()],
            "workspaces": [
                {"id": ws.id, "name": ws.name, "channels": [
                    {"id": c.id, "name": c.name, "number": c.number, "country": c.country, "mms": c.mms,
                     "messageType": c.message_type, "connectorId": c.connector_id, "timing": c.timing}
                    for c in ws.channels.values()]}
                for ws in world.workspaces.values()
            ],
            "outcomes": world.outcomes,
        }}

    def banner(self) -> list[str]:
        ws = next(iter(self.world.workspaces.values()))
        key = next(iter(self.world.access_keys.values()))
        lines = [f"  Bird         AccessKey {key.key}   workspace {ws.id}"]
        for ch in ws.channels.values():
            kind = "MMS" if ch.mms else "SMS"
            lines.append(f"               channel {ch.id}  {ch.number} ({kind}, {ch.message_type})")
        return lines


@functools.cache
def _catalogue() -> tuple[Behaviour, ...]:
    return load_catalogue("simulator.bird")


def bird_of(request: Request) -> BirdProvider:
    """The Bird provider of the simulation serving ``request``."""
    sim: Simulation = request.app.state.sim
    return sim.providers.get(BirdProvider)
