"""Apple → MSP: build what a customer's device sends and hand it to the shared durable outbox.

Always gzip + Content-Encoding: gzip (Apple's sample gunzips unconditionally), Bearer JWT with aud = MSP id,
and the id / source-id / destination-id / device-agent / capability-list headers.
"""
from __future__ import annotations

import gzip
import json
from typing import Any

from simulator.business_chat import crypto
from simulator.business_chat.auth import webhook_token
from simulator.business_chat.blobs import Blob, BlobStore
from simulator.business_chat.config import BCConfig
from simulator.core.outbox import Outbox
from simulator.core.store import Tx


def webhook_target(base: str, path: str) -> str:
    """Apple POSTs to <registered URL>/message; a URL that already ends in the path is used as is."""
    base = base.rstrip("/")
    return base if base.endswith(path) else base + path


def envelope(msg_id: str, kind: str, customer: dict[str, Any], business_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"v": 1, "id": msg_id, "type": kind, "sourceId": customer["id"],
                            "destinationId": business_id}
    if kind in ("text", "interactive"):
        # locale, and the intent/group of the link the customer started from (biz-intent-id / biz-group-id)
        body.update({k: customer[k] for k in ("locale", "intent", "group") if customer.get(k)})
    body.update({k: v for k, v in fields.items() if v is not None})
    return body


async def emit(tx: Tx, outbox: Outbox, config: BCConfig, webhook_url: str | None, customer: dict[str, Any],
               business_id: str, body: dict[str, Any]) -> int | None:
    """Queue one delivery; ordering_key = customer so one customer's messages arrive in the order sent."""
    if not webhook_url:
        return None  # nowhere to send: still recorded on the device (see GET /_sim/business-chat/customers/...)
    headers = {
        "authorization": f"Bearer {webhook_token(config)}",
        "content-type": "application/json",
        "content-encoding": "gzip",
        "id": body["id"],
        "source-id": customer["id"],
        "destination-id": business_id,
        "device-agent": customer.get("deviceAgent", "iPhone OS"),
        "capability-list": ",".join(customer.get("capabilities", [])),
    }
    raw = gzip.compress(json.dumps(body, ensure_ascii=False).encode("utf-8"), mtime=0)
    return await outbox.enqueue(tx, provider="business_chat", event=body["type"],
                                url=webhook_target(webhook_url, config.webhook_path), headers=headers, body=raw,
                                request_id=body["id"], ordering_key=customer["id"], scope=business_id)


def attachment_view(blob: Blob, key: bytes, name: str, mime_type: str, legacy: bool) -> dict[str, Any]:
    """How an inbound attachment is announced. Current names by default (size a JSON number, key "00" + UPPER
    hex, signature UPPER hex — what Apple's 2025 sample needs); legacy names behind legacy_attachment_keys."""
    signature_hex = blob.checksum.hex().upper()
    if legacy:
        return {"name": name, "mime-type": mime_type, "file-size": blob.size, "decryption-key": crypto.key_field(key),
                "mmcs-url": blob.url, "mmcs-owner": blob.owner, "mmcs-signature-hex": signature_hex}
    return {"name": name, "mimeType": mime_type, "size": blob.size, "key": crypto.key_field(key), "url": blob.url,
            "owner": blob.owner, "signature": signature_hex, "signature-base64": crypto.b64(blob.checksum)}


async def store_attachment(tx: Tx, blobs: BlobStore, config: BCConfig, key: bytes, business_id: str,
                           customer_id: str, name: str, mime_type: str, plaintext: bytes) -> dict[str, Any]:
    ciphertext = crypto.aes_ctr(key, plaintext)
    blob = await blobs.store(tx, "attachment", business_id, customer_id, ciphertext,
                             {"name": name, "mimeType": mime_type, "sha256": crypto.sha256_hex(plaintext)})
    return attachment_view(blob, key, name, mime_type, config.legacy_attachment_keys)


async def interactive_payload(tx: Tx, blobs: BlobStore, config: BCConfig, key: bytes, business_id: str,
                              customer_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Inline interactiveData up to the threshold; above it gzip → encrypt → store → interactiveDataRef."""
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(raw) <= config.idr_threshold_bytes:
        return {"interactiveData": data}
    ciphertext = crypto.aes_ctr(key, gzip.compress(raw, mtime=0))
    title = (data.get("receivedMessage") or {}).get("title", "")  # digest §9.2: matches receivedMessage.title
    blob = await blobs.store(tx, "idr", business_id, customer_id, ciphertext, {"bid": data.get("bid", "")})
    ref = {"bid": data.get("bid", ""), "url": blob.url, "owner": blob.owner, "size": blob.size,
           "signature": blob.checksum.hex().upper(), "signature-base64": crypto.b64(blob.checksum),
           "key": crypto.key_field(key), "title": title}
    return {"interactiveDataRef": ref}
