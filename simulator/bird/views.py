"""Read-only views of the seeded world in Bird's shapes: organization, workspaces, channels, connectors."""
from __future__ import annotations

from typing import Any

from simulator.core.clock import iso_ms
from simulator.world import BirdWorld, Channel, Workspace

SEEDED_AT = iso_ms(1704067200000)  # 2024-01-01T00:00:00.000Z: seeded objects predate everything


def channel_view(channel: Channel) -> dict[str, Any]:
    mms_status = "active" if channel.mms else "inactive"
    return {
        "id": channel.id,
        "name": channel.name,
        "platformId": "sms-messagebird",
        "connectorId": channel.connector_id,
        "identifier": channel.number,
        "status": channel.status,
        "messageType": channel.message_type,
        "country": channel.country,
        "capabilities": {
            "messaging": {
                "incoming": {"sms": {"status": "active"}, "mms": {"status": mms_status}},
                "outgoing": {"sms": {"status": "active", "paused": False},
                             "mms": {"status": mms_status, "paused": False}},
            }
        },
        "createdAt": SEEDED_AT,
        "updatedAt": SEEDED_AT,
    }


def workspace_view(world: BirdWorld, workspace: Workspace) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "organizationId": world.organization_id,
        "status": "active",
        "createdAt": SEEDED_AT,
        "updatedAt": SEEDED_AT,
    }


def connector_view(channel: Channel) -> dict[str, Any]:
    caps = "mms-inbound,mms-outbound,sms-inbound,sms-outbound" if channel.mms else "sms-inbound,sms-outbound"
    return {
        "id": channel.connector_id,
        "workspaceId": channel.workspace_id,
        "name": channel.name,
        "connectorTemplateRef": "sms-messagebird:1",
        "status": "active",
        "channel": {"channelId": channel.id, "platform": "sms-messagebird"},
        "number": {"phoneNumber": channel.number, "capabilities": caps, "country": channel.country,
                   "numberType": "mobile" if channel.mms else "longcode"},
        "createdAt": SEEDED_AT,
        "updatedAt": SEEDED_AT,
    }


def page(items: list[dict[str, Any]], limit: int, token: str | None) -> dict[str, Any]:
    """Offset paging for small, fixed collections (the seeded world)."""
    start = 0
    if token:
        try:
            start = max(0, int(token))
        except ValueError:
            start = 0
    chunk = items[start:start + limit]
    nxt = str(start + limit) if start + limit < len(items) else ""
    return {"results": chunk, "nextPageToken": nxt}
