"""Bird's URL table: paths exactly as api.bird.com has them."""
from __future__ import annotations

from starlette.routing import Route

from simulator.bird import handlers as h

WS = "/workspaces/{workspace_id}"
CH = WS + "/channels/{channel_id}"

routes = [
    Route(CH + "/messages", h.send_message, methods=["POST"]),
    Route(CH + "/messages", h.list_channel_messages, methods=["GET"]),
    Route(CH + "/messages/{message_id}", h.get_message, methods=["GET"]),
    Route(CH + "/messages/{message_id}/interactions", h.list_interactions, methods=["GET"]),
    Route(CH + "/batch/messages", h.send_batch, methods=["POST"]),
    Route(WS + "/messages", h.list_workspace_messages, methods=["GET"]),
    Route(WS + "/messages/{message_id}", h.get_workspace_message, methods=["GET"]),
    Route(WS + "/channels", h.list_channels, methods=["GET"]),
    Route(CH, h.get_channel, methods=["GET"]),
    Route(WS + "/connectors", h.list_connectors, methods=["GET"]),
    Route(WS + "/contacts", h.list_contacts, methods=["GET"]),
    Route(WS + "/contacts", h.create_contact, methods=["POST"]),
    Route(WS + "/contacts/{contact_id}", h.get_contact, methods=["GET"]),
    Route(WS + "/available-webhooks", h.available_webhooks, methods=["GET"]),
    Route(WS + "/projects", h.list_projects, methods=["GET"]),
    Route("/organizations/{organization_id}/workspaces", h.list_workspaces, methods=["GET"]),
    Route("/organizations/{organization_id}/workspaces/{workspace_id}", h.get_workspace, methods=["GET"]),
]
