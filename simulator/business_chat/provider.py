"""Business Chat's provider: the gateway under /v1 and its simulated customers, and what it gives the simulation
through the provider contract (routes, control routes, error shape, job kinds, events, resets, /_sim/info)."""
from __future__ import annotations

import functools
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from simulator.business_chat import device
from simulator.business_chat.config import load_config
from simulator.business_chat.errors import NotFound, bc_shape
from simulator.business_chat.events import ConversationEvent, DeviceMessage
from simulator.business_chat.service import BusinessChat
from simulator.core import scheduler as sched
from simulator.core.coverage import Behaviour, Tally, load_catalogue
from simulator.core.provider import JobKind, Provider
from simulator.core.retention import DAY_S, Dependent, RetentionKind
from simulator.core.simulation import Simulation
from simulator.core.store import Tx

SETTINGS_STATE = "business_chat.settings"  # settings changed through the control plane (core/state.py)
TABLES_BY_BUSINESS = ("bc_device_messages", "bc_conversations", "bc_business_settings")


class BusinessChatProvider(Provider):
    name = "business_chat"
    api_prefix = "/v1"
    control_prefix = "/_sim/business-chat"
    scope_keys = ("business", "customer")
    event_types = (ConversationEvent, DeviceMessage)
    coverage_scope = "business"

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        raw = sim.world.business_chat
        # Without a business_chat section in the world config the routes answer that it is not configured.
        self.service: BusinessChat | None = BusinessChat(sim, load_config(raw)) if raw else None
        # What the world config set, for a full reset to return to (the control plane may change it).
        self.initial_settings = self.settings()

    def settings(self) -> dict[str, str]:
        """The settings the control plane can change at run time (PUT /_sim/business-chat/settings)."""
        return {"attachmentKeyCheck": self.service.config.attachment_key_check} if self.service else {}

    def apply_settings(self, settings: dict[str, str]) -> None:
        if self.service is not None and "attachmentKeyCheck" in settings:
            self.service.config.attachment_key_check = settings["attachmentKeyCheck"]
        self.sim.state.changed(SETTINGS_STATE, lambda: json.dumps(self.settings()))

    async def open(self) -> None:
        saved = await self.sim.state.load(SETTINGS_STATE)
        if saved is not None and self.service is not None:
            self.service.config.attachment_key_check = json.loads(saved).get(
                "attachmentKeyCheck", self.service.config.attachment_key_check)

    async def reload(self) -> None:
        await self.open()

    def after_full_reset(self) -> None:
        self.apply_settings(self.initial_settings)

    def behaviours(self) -> tuple[Behaviour, ...]:
        # Without a business_chat section in the world config none of them can occur: none are listed.
        return _catalogue() if self.service is not None else ()

    def count_behaviours(self, tally: Tally) -> None:
        from simulator.business_chat.coverage import BusinessChatCoverage

        BusinessChatCoverage(tally).subscribe(self.sim.events)

    def routes(self) -> list[BaseRoute]:
        from simulator.business_chat.routes import routes

        return list(routes)

    def control_routes(self) -> list[BaseRoute]:
        from simulator.business_chat.attachments import routes as attachment_routes
        from simulator.business_chat.control import routes

        return [*routes, *attachment_routes]

    def error_response(self, status: int, code: str, message: str) -> Response:
        return bc_shape(status, code, message)

    def job_kinds(self) -> dict[str, JobKind]:
        return {device.BEHAVIOUR_JOB: JobKind(self.service.run_behaviour)} if self.service is not None else {}

    def retention_kinds(self) -> tuple[RetentionKind, ...]:
        # Apple documents no retention for attachments: 30 days is our stated choice (docs/retention.md); what
        # devices sent and received and idle conversations follow it. Customers and businesses come from the
        # config and the control plane.
        if self.service is None:
            return ()
        return (
            RetentionKind("business_chat.device_messages", "bc_device_messages", "created_at", 30 * DAY_S,
                          key=("seq",), summary="messages devices received and sent (by creation)"),
            RetentionKind("business_chat.conversations", "bc_conversations", "updated_at", 30 * DAY_S,
                          key=("business_id", "customer_id"), summary="conversations idle that long (by last change)"),
            RetentionKind("business_chat.download_urls", "bc_downloads", "expires_at", DAY_S, key=("token",),
                          summary="download URLs of /preDownload (by expiry)"),
            RetentionKind("business_chat.attachments", "bc_blobs", "created_at", 30 * DAY_S,
                          dependents=(Dependent("bc_downloads", "blob_id", "id"),),
                          summary="uploaded attachments and data refs, their bytes in the row (by creation)"),
        )

    async def reset_scope(self, tx: Tx, scope: dict[str, str]) -> None:
        # A full reset already emptied every table; seeded customers/businesses live in the config.
        deliveries = self.sim.outbox.deliveries
        kinds = tuple(self.job_kinds())
        if "business" in scope:
            b = scope["business"]
            await deliveries.delete(tx, self.name, scope=b)
            if kinds:
                await sched.cancel(tx, kinds=kinds, scope=b)
            for table in TABLES_BY_BUSINESS:
                await tx.execute(f"DELETE FROM {table} WHERE business_id=?", (b,))  # noqa: S608 - fixed names
            await tx.execute("DELETE FROM bc_downloads WHERE blob_id IN (SELECT id FROM bc_blobs WHERE"
                             " business_id=?)", (b,))
            await tx.execute("DELETE FROM bc_blobs WHERE business_id=?", (b,))
            await tx.execute("DELETE FROM bc_customers WHERE business_id=?", (b,))
        if "customer" in scope:
            c = scope["customer"]
            await deliveries.delete(tx, self.name, ordering_key=c)
            if kinds:
                await sched.cancel(tx, kinds=kinds, ref=c)
            await tx.execute("DELETE FROM bc_device_messages WHERE customer_id=?", (c,))
            await tx.execute("DELETE FROM bc_conversations WHERE customer_id=?", (c,))
            await tx.execute("DELETE FROM bc_downloads WHERE blob_id IN (SELECT id FROM bc_blobs WHERE"
                             " customer_id=?)", (c,))
            await tx.execute("DELETE FROM bc_blobs WHERE customer_id=?", (c,))
            await tx.execute("DELETE FROM bc_customers WHERE id=?", (c,))

    def describe(self) -> dict[str, Any]:
        bc = self.sim.world.business_chat
        return {"businessChat": {
            "mspId": bc.get("msp_id"),
            "secret": bc.get("secret"),
            "businesses": [{"id": b["id"], "name": b.get("name", "")} for b in bc.get("businesses", [])],
            "customers": [{"id": c["id"], "name": c.get("name", "")} for c in bc.get("customers", [])],
        } if bc else None}

    def banner(self) -> list[str]:
        bc = self.sim.world.business_chat
        if not bc:
            return []
        business = bc["businesses"][0]["id"]
        return [f"  BusinessChat MSP {bc['msp_id']}  business {business}  (secret: GET /_sim/info)"]


@functools.cache
def _catalogue() -> tuple[Behaviour, ...]:
    return load_catalogue("simulator.business_chat")


def provider_of(request: Request) -> BusinessChatProvider:
    sim: Simulation = request.app.state.sim
    return sim.providers.get(BusinessChatProvider)


def bc_of(request: Request) -> BusinessChat:
    """The Business Chat backend serving ``request``'s gateway call; 404 in Apple's shape when not configured."""
    service = provider_of(request).service
    if service is None:
        raise NotFound("Business Chat is not configured in this world (no business_chat section)")
    return service
