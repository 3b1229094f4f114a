"""Bird's URL table: paths exactly as api.bird.com has them."""
from __future__ import annotations

from starlette.routing import Route

from simulator.bird import handlers as h
from simulator.bird import media_handlers as mh
from simulator.bird import subscription_handlers as wh
from simulator.bird.media import UPLOAD_PATH

WS = "/workspaces/{workspace_id}"
CH = WS + "/channels/{channel_id}"
SUBS = "/webhook-subscriptions"
SUB = SUBS + "/{subscription_id}"
ORG_WS = "/organizations/{organization_id}" + WS


def _subscription_routes(prefix: str) -> list[Route]:
    return [
        Route(prefix + SUBS, wh.create_subscription, methods=["POST"]),
        Route(prefix + SUBS, wh.list_subscriptions, methods=["GET"]),
        Route(prefix + SUB, wh.get_subscription, methods=["GET"]),
        Route(prefix + SUB, wh.patch_subscription, methods=["PATCH"]),
        Route(prefix + SUB, wh.delete_subscription, methods=["DELETE"]),
        Route(prefix + SUB + "/logs", wh.subscription_logs, methods=["GET"]),
        Route(prefix + SUB + "/logs/details", wh.subscription_log_details, methods=["GET"]),
    ]


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
    Route(CH + "/contacts/{contact_id}", h.get_channel_contact, methods=["GET"]),
    Route(WS + "/connectors", h.list_connectors, methods=["GET"]),
    Route(WS + "/connectors", h.install_connector, methods=["POST"]),
    Route(WS + "/connectors/{connector_id}", h.get_connector, methods=["GET"]),
    Route(WS + "/contacts", h.list_contacts, methods=["GET"]),
    Route(WS + "/contacts", h.create_contact, methods=["POST"]),
    Route(WS + "/contacts/{contact_id}", h.get_contact, methods=["GET"]),
    Route(WS + "/available-webhooks", h.available_webhooks, methods=["GET"]),
    Route(WS + "/projects", h.list_projects, methods=["GET"]),
    Route("/organizations/{organization_id}/workspaces", h.list_workspaces, methods=["GET"]),
    Route("/organizations/{organization_id}/workspaces/{workspace_id}", h.get_workspace, methods=["GET"]),
    Route(WS, h.get_workspace_plain, methods=["GET"]),
    # media: presigned uploads (three spellings seen for the channel flavour, plus the Conversations API twin whose
    # flow Bird documents in full), the upload itself, downloads
    Route(WS + "/presigned-upload", mh.presign_workspace, methods=["POST"]),
    Route(WS + "/channel-media/presigned-upload", mh.presign_workspace, methods=["POST"]),
    Route(WS + "/conversations/{conversation_id}/presigned-upload", mh.presign_workspace, methods=["POST"]),
    Route(CH + "/presigned-upload", mh.presign_channel, methods=["POST"]),
    Route(UPLOAD_PATH, mh.upload, methods=["POST"]),
    Route(CH + "/media/{media_id}", mh.get_channel_media, methods=["GET"]),
    Route(WS + "/media/{media_id}", mh.get_workspace_media, methods=["GET"]),
    Route(WS + "/messages/{message_id}/media/{media_id}", mh.get_message_media, methods=["GET"]),
    *_subscription_routes(ORG_WS),
    *_subscription_routes(WS),
]
