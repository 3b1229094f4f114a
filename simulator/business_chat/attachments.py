"""Business Chat attachments as the customer's device sees them: decrypted, downloadable (for the web inbox).

GET /_sim/business-chat/customers/{customer_id}/device/{seq}/attachments/{index} returns the plaintext of
attachment ``index`` of device message ``seq`` (received from the business or sent by the customer), decrypted
with the key the message carried — what the device did when it got the message.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from simulator.business_chat.provider import provider_of
from simulator.control.common import sim_of
from simulator.control.errors import ControlNotFound
from simulator.control.routing import route


def _field(att: dict[str, Any], *names: str) -> Any:
    for name in names:
        if att.get(name) not in (None, ""):
            return att[name]
    return None


async def download(request: Request) -> Response:
    sim = sim_of(request)
    bc = provider_of(request).service
    if bc is None:
        raise ControlNotFound("Business Chat is not configured in this world")
    from simulator.business_chat import crypto

    customer_id = request.path_params["customer_id"]
    try:
        seq, index = int(request.path_params["seq"]), int(request.path_params["index"])
        if not (0 <= seq < 2**63 and 0 <= index < 2**63):
            raise ValueError  # SQLite integers are 64-bit: a larger number names nothing
    except ValueError:
        raise ControlNotFound("message seq and attachment index are numbers (0 to 2**63-1)") from None
    row = await sim.store.fetch_one("SELECT data FROM bc_device_messages WHERE customer_id=? AND seq=?",
                                    (customer_id, seq))
    if row is None:
        raise ControlNotFound(f"customer {customer_id} has no device message {seq}")
    data = json.loads(row[0])
    stored = (data.get("message") or {}).get("attachments") or []
    shown = (data.get("view") or {}).get("attachments") or []
    if not 0 <= index < len(stored):
        raise ControlNotFound(f"device message {seq} has no attachment {index}")
    att = stored[index]
    info = shown[index] if index < len(shown) and isinstance(shown[index], dict) else {}
    url = _field(att, "url", "mmcs-url")
    key = crypto.parse_key_field(_field(att, "key", "decryption-key"))
    blob = await bc.blobs.by_url(sim.store, str(url)) if url else None
    if blob is None or blob.data is None or key is None:
        raise ControlNotFound("the attachment's blob or key is gone (reset?)")
    plaintext = crypto.aes_ctr(key, bytes(blob.data))
    name = str(_field(info, "name") or _field(att, "name") or "attachment")
    mime = str(_field(info, "mimeType") or _field(att, "mimeType", "mime-type") or "application/octet-stream")
    return Response(plaintext, media_type=mime, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}", "Cache-Control": "no-store"})


routes: list[BaseRoute] = [
    route("GET", "/_sim/business-chat/customers/{customer_id:path}/device/{seq}/attachments/{index}", download,
          "The plaintext of attachment `index` of device message `seq`, decrypted as the device did (opaque customer"
          " ids may contain '/')."),
]
