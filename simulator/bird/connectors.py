"""SMS connectors installed at runtime (POST /workspaces/{ws}/connectors): each one brings a channel.

Seeded channels come from the world config; installed ones live in ``bird_connectors`` and join the world's
workspace as soon as they are committed, and again at every start-up. A full reset or a reset of their workspace
removes them: back to the world as configured.
"""
from __future__ import annotations

import hashlib
from typing import Any

from simulator.bird.config import Channel, Workspace
from simulator.bird.errors import BirdError, Conflict, InvalidPayload
from simulator.core.codec import dumps, loads
from simulator.core.simulation import Simulation
from simulator.core.store import Tx

SMS_TEMPLATE = "sms-messagebird"  # connectorTemplateRef "sms-messagebird" or "sms-messagebird:<version>"
MAX_INSTALLED_PER_WORKSPACE = 100
TABLE = "bird_connectors"


def derived_number(phone_number_id: str) -> str:
    """A stable US number (555 range) for a phoneNumberId given without ``arguments.phoneNumber``: the simulator
    has no Numbers API to look it up in."""
    digits = int.from_bytes(hashlib.sha256(phone_number_id.encode()).digest()[:8], "big") % 10_000_000
    return f"+1555{digits:07d}"


def _country_of(number: str) -> str:
    return "US" if number.startswith("+1") else "NL"


class Connectors:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        # channel id -> the connector record, for the channels this module added (what bird_connectors holds,
        # loaded at start-up and kept in step after each commit, so reads need no query)
        self.installed: dict[str, dict[str, Any]] = {}

    async def reload(self) -> None:
        """What another process of a fleet installed or reset: the world's installed channels as the table has them
        (swapped in one step, so no request sees a channel missing meanwhile)."""
        await self.load(replace=True)

    async def load(self, *, replace: bool = False) -> None:
        """Put every installed channel back into the world (start-up)."""
        rows = await self.sim.store.fetch_all("SELECT workspace_id, data FROM bird_connectors ORDER BY created_at")
        if replace:
            self._remove(list(self.installed))
        for row in rows:
            workspace = self.sim.world.bird.workspaces.get(row[0])
            if workspace is not None:  # a config change dropped the workspace: the row waits, harmless
                self._add(workspace, loads(row[1]))

    async def install(self, workspace: Workspace, request: dict[str, Any]) -> dict[str, Any]:
        """Create the connector and its channel; the caller validated ``request`` against the schema."""
        template = request.get("connectorTemplateRef") or f"{SMS_TEMPLATE}:1"
        if template.split(":", 1)[0] != SMS_TEMPLATE:
            raise InvalidPayload.one(".connectorTemplateRef", f"the simulator installs SMS connectors only "
                                                              f"({SMS_TEMPLATE}:1), not {template!r}")
        arguments = request.get("arguments") or {}
        for required in ("phoneNumberId", "channelMessageType"):
            if required not in arguments:
                raise InvalidPayload.one(f".arguments.{required}", "is required to install an SMS connector")
        phone_number_id = arguments["phoneNumberId"]
        number = arguments.get("phoneNumber") or derived_number(phone_number_id)
        taken = next((c for c in workspace.channels.values() if c.number == number), None)
        if taken is not None:
            raise Conflict(f"connector already exists: channel {taken.id} uses {number}")
        installed_here = sum(1 for r in self.installed.values() if r["workspaceId"] == workspace.id)
        if installed_here >= MAX_INSTALLED_PER_WORKSPACE:
            raise BirdError(f"this workspace already has {MAX_INSTALLED_PER_WORKSPACE} installed connectors (the"
                            " simulator's cap); reset the workspace to remove them", status=422,
                            code="InvalidPayload")
        now = self.sim.clock.now_ms()
        rand = self.sim.random
        connector_id, channel_id = rand.uuid(), rand.uuid()
        record = {
            "id": connector_id, "channelId": channel_id, "workspaceId": workspace.id, "name": request["name"],
            "template": template, "arguments": arguments, "phoneNumberId": phone_number_id, "number": number,
            "profileId": rand.uuid(), "routingKey": rand.hex(8), "createdAt": now,
            "conversational": bool(request.get("channelConversationalStatusEnabled")),
        }
        async with self.sim.store.transaction() as tx:
            existing = await tx.fetch_one("SELECT id FROM bird_connectors WHERE workspace_id=? AND phone_number_id=?",
                                          (workspace.id, phone_number_id))
            if existing is not None:
                raise Conflict(f"connector already exists: {existing[0]} for phoneNumberId {phone_number_id}")
            # Checked again in the transaction: an install running concurrently is not in the world yet.
            same_number = await tx.fetch_one("SELECT id FROM bird_connectors WHERE workspace_id=? AND number=?",
                                             (workspace.id, number))
            if same_number is not None:
                raise Conflict(f"connector already exists: {same_number[0]} uses {number}")
            # One that commits between the checks and this insert (another transaction) loses nothing either: the
            # unique indexes refuse the second row, and the insert says so by returning none.
            inserted = await tx.fetch_one(
                "INSERT INTO bird_connectors (id, workspace_id, channel_id, phone_number_id, number, created_at, data)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id",
                (connector_id, workspace.id, channel_id, phone_number_id, number, now, dumps(record)))
            if inserted is None:
                raise Conflict(f"connector already exists for phoneNumberId {phone_number_id} or number {number}")
            tx.forget(TABLE)  # the other processes of a fleet load the channel too (core/fleet.py)
            tx.after_commit.append(lambda: self._add(workspace, record))
        return record

    def record_of(self, channel_id: str) -> dict[str, Any] | None:
        """The install record behind a channel, None for a channel from the world config."""
        return self.installed.get(channel_id)

    async def on_reset(self, tx: Tx, scope: dict[str, str]) -> None:
        if scope and "workspace" not in scope:
            return
        if "workspace" in scope:
            await tx.execute("DELETE FROM bird_connectors WHERE workspace_id=?", (scope["workspace"],))
        doomed = [ch for ch, r in self.installed.items() if not scope or r["workspaceId"] == scope["workspace"]]
        tx.after_commit.append(lambda: self._remove(doomed))

    def _add(self, workspace: Workspace, record: dict[str, Any]) -> None:
        number = record["number"]
        country = _country_of(number)
        workspace.channels[record["channelId"]] = Channel(
            id=record["channelId"], workspace_id=workspace.id, connector_id=record["id"], name=record["name"],
            number=number, country=country, mms=country in ("US", "CA"),
            message_type=record["arguments"]["channelMessageType"], timing="default", status="active")
        self.installed[record["channelId"]] = record

    def _remove(self, channel_ids: list[str]) -> None:
        for channel_id in channel_ids:
            record = self.installed.pop(channel_id, None)
            workspace = self.sim.world.bird.workspaces.get(record["workspaceId"]) if record else None
            if workspace is not None:
                workspace.channels.pop(channel_id, None)
