"""Read-only views of the seeded world in Bird's shapes: organization, workspaces, channels, connectors."""
from __future__ import annotations

from typing import Any

from simulator.bird.config import BirdWorld, Channel, Workspace
from simulator.bird.errors import InvalidPayload
from simulator.core.clock import iso_ms

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


def connector_view(channel: Channel, installed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Bird's connector object; ``installed`` is the record of one installed at runtime (connectors.py)."""
    caps = "mms-inbound,mms-outbound,sms-inbound,sms-outbound" if channel.mms else "sms-inbound,sms-outbound"
    record = installed or {}
    stamp = iso_ms(record["createdAt"]) if "createdAt" in record else SEEDED_AT
    template = record.get("template", "sms-messagebird:1")
    return {
        "id": channel.connector_id,
        "workspaceId": channel.workspace_id,
        "routingKey": record.get("routingKey", channel.connector_id.replace("-", "")[:16]),
        "name": channel.name,
        "region": "eu-west-1",
        "description": "",
        "arguments": record.get("arguments", {"channelMessageType": channel.message_type}),
        "connectorTemplateRef": template,
        "connectorTemplateSlug": template.split(":", 1)[0],
        "status": "active",
        "channel": {"channelId": channel.id, "platform": "sms-messagebird"},
        "number": {"profileId": record.get("profileId", channel.connector_id),
                   "numberId": record.get("phoneNumberId", channel.connector_id), "phoneNumber": channel.number,
                   "variables": {}, "capabilities": caps, "country": channel.country,
                   "numberType": "mobile" if channel.mms else "longcode", "endpointType": "number",
                   "profileAttachments": []},
        "createdAt": stamp,
        "updatedAt": stamp,
    }


MAX_TOKEN = 2**63 - 1  # SQLite's INTEGER


def int_token(token: str) -> int:
    """A numeric page token this API issued (a row number or offset); 422 for anything else, a too-large number too
    (SQLite cannot compare it)."""
    try:
        value = int(token)
        if not 0 <= value <= MAX_TOKEN:
            raise ValueError
    except ValueError:
        raise InvalidPayload.one("pageToken", "is not a page token this API issued; pass nextPageToken unchanged"
                                 ) from None
    return value


def page(items: list[dict[str, Any]], limit: int, token: str | None) -> dict[str, Any]:
    """Offset paging for small, fixed collections (the seeded world)."""
    start = int_token(token) if token else 0
    chunk = items[start:start + limit]
    nxt = str(start + limit) if start + limit < len(items) else ""
    return {"results": chunk, "nextPageToken": nxt}
