"""Rules for outbound messages: JSON Schema first, then what a schema cannot say. Each problem is an Issue
with a JSON pointer (body) — header problems use the pseudo path ("headers", name) → pointer /headers/<name>."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers

from simulator.business_chat import crypto
from simulator.business_chat.blobs import BlobStore
from simulator.business_chat.config import BUILTIN_BID, BCConfig
from simulator.core.codec import is_digits
from simulator.core.schemas import Issue, SchemaStore

OBJECT_REPLACEMENT = "\ufffc"
FEATURES = ("quick-reply", "listPicker", "event", "authenticate", "payment", "dynamic")
# What the device must list in capability-list for each feature (Apple Pay and rich links are universal).
CAPABILITY = {"quick-reply": "QUICK", "listPicker": "LIST", "event": "TIME", "dynamic": "FORM"}
# receivedMessage (the bubble) is required "for most types" (digest §8.1); Apple's quick-reply sample has none (§8.3).
NEEDS_RECEIVED_MESSAGE = ("listPicker", "event", "authenticate", "payment", "dynamic")
RICH_LINK_IMAGE_MAX = 200 * 1024
CUSTOM_APP_DEVICES = ("iPhone OS", "iPadOS")
# The Apple Pay endpoints the simulator calls on the customer's behalf (fallbackUrl and orderTrackingUrl are
# only shown to the customer): each follows the rule for every URL the simulator calls (core/urls.py).
CALLED_PAYMENT_ENDPOINTS = ("paymentGatewayUrl", "paymentMethodUpdateUrl", "shippingContactUpdateUrl",
                            "shippingMethodUpdateUrl")
UrlProblem = Callable[[str], str | None]


def H(name: str) -> tuple[str, str]:
    return ("headers", name)


def header_issues(headers: Headers, body: dict[str, Any], *, businesses: set[str]) -> list[Issue]:
    issues: list[Issue] = []
    msg_id = headers.get("id")
    if not msg_id:
        issues.append(Issue(H("id"), "header id is required (the message UUID, equal to the body id)"))
    elif "id" in body and msg_id != body.get("id"):
        issues.append(Issue(H("id"), f"header id {msg_id!r} differs from body id {body.get('id')!r}"))
    source = headers.get("source-id")
    if not source:
        issues.append(Issue(H("source-id"), "header source-id is required (your business id)"))
    else:
        if source not in businesses:
            issues.append(Issue(H("source-id"), f"{source!r} is not a business of this MSP"))
        if "sourceId" in body and source != body.get("sourceId"):
            issues.append(Issue(("sourceId",), f"sourceId {body.get('sourceId')!r} differs from header source-id"))
    destination = headers.get("destination-id")
    if not destination:
        issues.append(Issue(H("destination-id"), "header destination-id is required (the customer's opaque id)"))
    elif "destinationId" in body and destination != body.get("destinationId"):
        issues.append(Issue(("destinationId",),
                            f"destinationId {body.get('destinationId')!r} differs from header destination-id"))
    return issues


def body_issues(schemas: SchemaStore, body: Any, *, authenticate_endpoint: bool = False,
                url_problem: UrlProblem | None = None) -> list[Issue]:
    if not isinstance(body, dict):
        return [Issue((), "the body must be a JSON object (the message envelope)")]
    if body.get("type") == "close":
        return [Issue(("type",), "a business may not send close; only the customer closes a conversation")]
    issues = schemas.issues("business_chat/envelope", body)
    issues += _semantic(body, authenticate_endpoint)
    if url_problem is not None:
        issues += _endpoint_issues(body, url_problem)
    return issues


def _endpoint_issues(body: dict[str, Any], url_problem: UrlProblem) -> list[Issue]:
    data_obj = body.get("interactiveData")
    data = data_obj.get("data") if isinstance(data_obj, dict) else None
    payment = data.get("payment") if isinstance(data, dict) else None
    endpoints = payment.get("endpoints") if isinstance(payment, dict) else None
    if not isinstance(endpoints, dict):
        return []
    issues = []
    for key in CALLED_PAYMENT_ENDPOINTS:
        url = endpoints.get(key)
        if isinstance(url, str) and (problem := url_problem(url)):
            issues.append(Issue(("interactiveData", "data", "payment", "endpoints", key), f"{key} {problem}"))
    return issues


def _semantic(body: dict[str, Any], authenticate_endpoint: bool) -> list[Issue]:
    issues: list[Issue] = []
    if body.get("v") != 1:
        pass  # the schema's const already says so
    attachments = body.get("attachments")
    text = body.get("body")
    if isinstance(attachments, list) and isinstance(text, str):
        marks = text.count(OBJECT_REPLACEMENT)
        if marks != len(attachments):
            issues.append(Issue(("body",), f"body must contain one U+FFFC per attachment: {len(attachments)} "
                                           f"attachment(s) but {marks} U+FFFC character(s)"))
    elif isinstance(text, str) and OBJECT_REPLACEMENT in text and body.get("type") == "text":
        issues.append(Issue(("body",), "body contains U+FFFC but there are no attachments"))
    data_obj = body.get("interactiveData")
    if isinstance(data_obj, dict):
        issues += _interactive(data_obj)
    if authenticate_endpoint and not (isinstance(data_obj, dict) and isinstance(data_obj.get("data"), dict)
                                      and "authenticate" in data_obj["data"]):
        issues.append(Issue(("interactiveData", "data", "authenticate"),
                            "POST /v1/authenticate needs an interactive message with data.authenticate"))
    rich = body.get("richLinkData")
    if isinstance(rich, dict):
        image = (rich.get("assets") or {}).get("image") if isinstance(rich.get("assets"), dict) else None
        if isinstance(image, dict) and isinstance(image.get("data"), str):
            size = _b64_size(image["data"])
            where = ("richLinkData", "assets", "image", "data")
            if size is None:
                issues.append(Issue(where, "image data must be base64"))
            elif size > RICH_LINK_IMAGE_MAX:
                issues.append(Issue(where, f"rich link image is {size} bytes; the limit is {RICH_LINK_IMAGE_MAX}"))
    return issues


def _interactive(data_obj: dict[str, Any]) -> list[Issue]:
    issues: list[Issue] = []
    bid = data_obj.get("bid")
    data = data_obj.get("data")
    if isinstance(bid, str) and bid != BUILTIN_BID:
        if "data" in data_obj:
            issues.append(Issue(("interactiveData", "data"), "Third party interactive data disallows use of 'data'"))
        return issues
    if not isinstance(data, dict):
        return issues
    present = [f for f in FEATURES if f in data]
    if len(present) != 1:
        what = ", ".join(present) if present else "none"
        issues.append(Issue(("interactiveData", "data"), f"data must hold exactly one of {', '.join(FEATURES)}; "
                                                         f"found {what}"))
    elif present[0] in NEEDS_RECEIVED_MESSAGE and "receivedMessage" not in data_obj:
        issues.append(Issue(("interactiveData", "receivedMessage"),
                            f'property "receivedMessage" is required for {present[0]} messages (the bubble the '
                            "customer sees); only quick replies may omit it"))
    raw_images = data.get("images")
    images: list[Any] = raw_images if isinstance(raw_images, list) else []
    known: set[str] = set()
    for i, img in enumerate(images):
        ident = img.get("identifier") if isinstance(img, dict) else None
        if not isinstance(ident, str):
            continue  # the schema reports it
        if ident in known:
            issues.append(Issue(("interactiveData", "data", "images", i, "identifier"), f"duplicate image {ident!r}"))
        known.add(ident)
    for path, ref in _image_refs(data_obj):
        if ref not in known:
            issues.append(Issue(path, f"imageIdentifier {ref!r} is not in data.images"))
    picker = data.get("listPicker")
    if isinstance(picker, dict) and isinstance(picker.get("sections"), list):
        seen: set[str] = set()
        for s, section in enumerate(picker["sections"]):
            for i, item in enumerate(_items(section)):
                ident = item.get("identifier") if isinstance(item, dict) else None
                if isinstance(ident, str):
                    if ident in seen:
                        issues.append(Issue(("interactiveData", "data", "listPicker", "sections", s, "items", i,
                                             "identifier"), f"item identifier {ident!r} is used twice"))
                    seen.add(ident)
    event = data.get("event")
    if isinstance(event, dict) and isinstance(event.get("timeslots"), list):
        slot_ids = [t.get("identifier") for t in event["timeslots"] if isinstance(t, dict)]
        for i, ident in enumerate(slot_ids):
            if slot_ids.index(ident) != i:
                issues.append(Issue(("interactiveData", "data", "event", "timeslots", i, "identifier"),
                                    f"timeslot identifier {ident!r} is used twice"))
    return issues


def _image_refs(data_obj: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    refs: list[tuple[tuple[Any, ...], str]] = []
    for key in ("receivedMessage", "replyMessage"):
        bubble = data_obj.get(key)
        if isinstance(bubble, dict) and isinstance(bubble.get("imageIdentifier"), str):
            refs.append(((("interactiveData", key, "imageIdentifier")), bubble["imageIdentifier"]))
    raw_data = data_obj.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    picker = data.get("listPicker")
    if isinstance(picker, dict) and isinstance(picker.get("sections"), list):  # the schema reports other types
        for s, section in enumerate(picker["sections"]):
            for i, item in enumerate(_items(section)):
                if isinstance(item, dict) and isinstance(item.get("imageIdentifier"), str):
                    refs.append((("interactiveData", "data", "listPicker", "sections", s, "items", i,
                                  "imageIdentifier"), item["imageIdentifier"]))
    return refs


def _items(section: Any) -> list[Any]:
    """A list-picker section's items when they are a list (the schema reports any other shape)."""
    items = section.get("items") if isinstance(section, dict) else None
    return items if isinstance(items, list) else []


def _b64_size(text: str) -> int | None:
    try:
        return len(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return None


def capability_issue(body: dict[str, Any], customer: dict[str, Any]) -> Issue | None:
    """A feature the customer's device does not support (capability-list), as Apple's policy forbids."""
    data_obj = body.get("interactiveData")
    if not isinstance(data_obj, dict):
        return None
    caps = {c.upper() for c in customer.get("capabilities", [])}
    if data_obj.get("bid") not in (None, BUILTIN_BID):
        if customer.get("deviceAgent") not in CUSTOM_APP_DEVICES:
            return Issue(("interactiveData", "bid"), f"custom iMessage apps need an iPhone or iPad; the device is "
                                                     f"{customer.get('deviceAgent')}")
        return None
    raw_data = data_obj.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    for feature, cap in CAPABILITY.items():
        if feature in data and cap not in caps:
            return Issue(("interactiveData", "data", feature),
                         f"the customer's device does not support {feature} (capability-list lacks {cap})")
    if "authenticate" in data:
        # Legacy (responseEncryptionKey) is AUTH, the current flow (redirectURI) is AUTH2 (digest §3, §8.6).
        oauth = (data["authenticate"] or {}).get("oauth2") or {}
        legacy = isinstance(oauth, dict) and "responseEncryptionKey" in oauth
        needed = "AUTH" if legacy else "AUTH2"
        if needed not in caps:
            flow = "legacy authentication (responseEncryptionKey)" if legacy else "authentication (redirectURI)"
            return Issue(("interactiveData", "data", "authenticate"),
                         f"the customer's device does not support {flow} (capability-list lacks {needed})")
    return None


def attachment_fields(att: dict[str, Any]) -> dict[str, Any]:
    """Current and legacy key names folded into one view."""
    signature = att.get("signature-base64")
    sig_bytes = crypto.signature_bytes(signature) if isinstance(signature, str) else None
    if sig_bytes is None and isinstance(att.get("mmcs-signature-hex"), str):
        sig_bytes = crypto.signature_bytes(att["mmcs-signature-hex"])
    if sig_bytes is None and isinstance(att.get("signature"), str):
        sig_bytes = crypto.signature_bytes(att["signature"])
    size = att.get("size", att.get("file-size"))
    return {
        "name": att.get("name"), "mimeType": att.get("mimeType", att.get("mime-type", "")),
        "size": int(size) if isinstance(size, int) or (isinstance(size, str) and is_digits(size)) else None,
        "signature": sig_bytes, "url": att.get("url", att.get("mmcs-url")),
        "owner": att.get("owner", att.get("mmcs-owner")), "key": att.get("key", att.get("decryption-key")),
    }


async def check_attachments(conn: Any, blobs: BlobStore, config: BCConfig, business_id: str,
                            attachments: list[dict[str, Any]]) -> tuple[list[Issue], list[dict[str, Any]]]:
    """Each attachment must name an uploaded blob of this business with matching owner, checksum and size, and a
    key of the right form: else an issue (400, as Apple). Whether the key decrypts the upload to the declared type
    is what the device finds out, not the gateway: with ``attachment_key_check`` "report" (the default) it becomes
    the attachment's ``problem`` ("the customer could not open this attachment: ..."), with "refuse" an issue
    (stricter than Apple), with "off" nothing. Returns (issues, what the device got: name, type, size, sha256 of
    the plaintext, and the problem if any)."""
    issues: list[Issue] = []
    received: list[dict[str, Any]] = []
    for i, att in enumerate(attachments):
        f = attachment_fields(att)
        at = ("attachments", i)
        blob = await blobs.by_url(conn, f["url"]) if isinstance(f["url"], str) else None
        if blob is None or blob.kind != "upload" or blob.business_id != business_id:
            issues.append(Issue((*at, "url"), f"no upload at {f['url']!r} for this business (use the mmcs-url "
                                               "/preUpload returned)"))
            continue
        if not blob.uploaded or blob.data is None:
            issues.append(Issue((*at, "url"), "nothing was uploaded to this blob's upload-url yet"))
            continue
        if f["owner"] != blob.owner:
            issues.append(Issue((*at, "owner"), f"owner {f['owner']!r} does not match the blob's mmcs-owner"))
        if f["signature"] != blob.checksum:
            issues.append(Issue((*at, "signature-base64"), "checksum does not match the fileChecksum the upload "
                                                            "returned"))
        if f["size"] != len(blob.data):
            issues.append(Issue((*at, "size"), f"size {f['size']} does not match the {len(blob.data)} encrypted "
                                                "bytes uploaded"))
        if len(blob.data) > config.max_attachment_bytes:
            issues.append(Issue((*at, "size"), f"attachments are limited to {config.max_attachment_bytes} bytes"))
        key = crypto.parse_key_field(f["key"])
        if key is None:
            issues.append(Issue((*at, "key"), 'key must be "00" followed by 64 hex characters'))
            continue
        plaintext = crypto.aes_ctr(key, blob.data)
        problem = crypto.plaintext_problem(str(f["mimeType"]), plaintext) \
            if config.attachment_key_check != "off" else None
        if problem and config.attachment_key_check == "refuse":
            issues.append(Issue((*at, "key"), f"key does not decrypt the upload: {problem}"))
            continue
        seen: dict[str, Any] = {"name": f["name"], "mimeType": f["mimeType"], "size": len(plaintext),
                                "sha256": crypto.sha256_hex(plaintext), "url": blob.url}
        if problem:
            seen["problem"] = f"the customer could not open this attachment: {problem}"
        received.append(seen)
    return issues, received
