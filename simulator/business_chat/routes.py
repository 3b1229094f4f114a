"""Business Chat's URL table: Apple's gateway paths under /v1, plus the storage host's upload/download URLs."""
from __future__ import annotations

from starlette.routing import Route

from simulator.business_chat import handlers as g

routes = [
    Route("/v1/message", g.send_message, methods=["POST"]),
    Route("/v1/authenticate", g.authenticate, methods=["POST"]),
    Route("/v1/preUpload", g.pre_upload, methods=["GET"]),
    Route("/v1/preDownload", g.pre_download, methods=["GET"]),
    Route("/v1/decodePayload", g.decode_payload, methods=["POST"]),
    Route("/v1/constructPayload", g.construct_payload, methods=["POST"]),
    Route("/v1/mmcs/upload/{token}", g.upload, methods=["POST", "PUT"]),
    Route("/v1/mmcs/download/{token}", g.download, methods=["GET"]),
]
