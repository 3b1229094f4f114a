"""What a customer's device answers to each interactive message (shapes Apple leaves [UNVERIFIED] are
documented in docs/business-chat.md). Pure functions: the original interactiveData + the choice → reply."""
from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from typing import Any

from simulator.business_chat.config import BUILTIN_BID


class ReplyError(ValueError):
    """The control-plane request does not fit the message (unknown item, two picks in a single-choice section)."""


# ``orig`` is the interactive message as the business sent it (validated by business_chat/validation on the way
# in) and the reply is the JSON Apple's device would answer: both free-form JSON here. ``params`` is the
# control-plane request, every value of which is checked before use.


def _base(orig: dict[str, Any], session: str, feature_value: object, feature: str,
          reply_title: str) -> dict[str, Any]:
    data = orig.get("data") or {}
    reply_message = dict(orig.get("replyMessage") or {})
    reply_message.setdefault("title", reply_title)
    reply_message.setdefault("alternateTitle", reply_message["title"])
    out_data: dict[str, Any] = {"version": data.get("version") or data.get("mspVersion") or "1.0",
                                "requestIdentifier": data.get("requestIdentifier", ""),
                                "replyMessage": reply_message, feature: feature_value}
    if data.get("images"):
        out_data["images"] = data["images"]  # Apple's replies carry the picker's images (hence >10 KB)
    reply: dict[str, Any] = {"bid": orig.get("bid", BUILTIN_BID), "sessionIdentifier": session, "data": out_data}
    if orig.get("receivedMessage"):
        reply["receivedMessage"] = orig["receivedMessage"]
    return reply


def list_picker(orig: dict[str, Any], session: str, params: Mapping[str, object]) -> dict[str, Any]:
    picker = orig["data"]["listPicker"]
    wanted = params.get("items")
    if wanted is None:
        wanted = [picker["sections"][0]["items"][0]["identifier"]]
    if isinstance(wanted, str):
        wanted = [wanted]
    if not isinstance(wanted, list) or not wanted or not all(isinstance(w, str) for w in wanted):
        raise ReplyError('"items" must be a non-empty list of item identifiers')
    all_ids = {item["identifier"] for s in picker["sections"] for item in s["items"]}
    unknown = [w for w in wanted if w not in all_ids]
    if unknown:
        raise ReplyError(f"unknown list picker item(s) {unknown}; the picker has {sorted(all_ids)}")
    sections: list[dict[str, Any]] = []
    titles: list[str] = []
    for section in picker["sections"]:
        chosen = [copy.deepcopy(item) for item in section["items"] if item["identifier"] in wanted]
        if len(chosen) > 1 and not section.get("multipleSelection", False):
            raise ReplyError(f"section {section.get('title', '')!r} does not allow multipleSelection; "
                             f"{len(chosen)} items were picked")
        if chosen:
            for item in chosen:
                item["selected"] = True  # [UNVERIFIED] marker; the sections hold only the selected items
            titles += [item["title"] for item in chosen]
            sections.append({**{k: v for k, v in section.items() if k != "items"}, "items": chosen})
    return _base(orig, session, {"sections": sections}, "listPicker", ", ".join(titles))


def time_picker(orig: dict[str, Any], session: str, params: Mapping[str, object]) -> dict[str, Any]:
    event = orig["data"]["event"]
    slots = event["timeslots"]
    choice = params.get("timeslot")
    if choice is None:
        slot = slots[_index(params, len(slots))]
    else:
        found = [s for s in slots if s["identifier"] == choice]
        if not found:
            raise ReplyError(f"unknown timeslot {choice!r}; the event has {[s['identifier'] for s in slots]}")
        slot = found[0]
    chosen = {**{k: v for k, v in event.items() if k != "timeslots"}, "timeslots": [slot]}
    return _base(orig, session, chosen, "event", slot["startTime"])


def quick_reply(orig: dict[str, Any], session: str, params: Mapping[str, object]) -> dict[str, Any]:
    items = orig["data"]["quick-reply"]["items"]
    choice = params.get("item")
    if choice is None:
        index = _index(params, len(items))
    else:
        ids = [i["identifier"] for i in items]
        if choice not in ids:
            raise ReplyError(f"unknown quick reply item {choice!r}; the items are {ids}")
        index = ids.index(choice)
    item = items[index]
    value = {"selectedIndex": index, "selectedIdentifier": item["identifier"], "items": [item]}
    return _base(orig, session, value, "quick-reply", item["title"])


def authenticate(orig: dict[str, Any], session: str, params: Mapping[str, object]) -> dict[str, Any]:
    oauth = orig["data"]["authenticate"]["oauth2"]
    ok = params.get("result", "success") == "success"
    if params.get("result", "success") not in ("success", "fail"):
        raise ReplyError('"result" must be "success" or "fail"')
    value: dict[str, Any] = {"status": "authenticated" if ok else "failed"}
    if ok:
        token = str(params.get("token") or "simulated-oauth-token")
        if "responseEncryptionKey" in oauth:
            value["token"] = encrypt_legacy_token(oauth["responseEncryptionKey"], token)
        else:
            value["token"] = base64.b64encode(token.encode()).decode()
        if "state" in oauth:
            value["state"] = oauth["state"]
    else:
        value["errors"] = [{"code": str(params.get("error", "access_denied"))}]
    return _base(orig, session, value, "authenticate", "Signed in" if ok else "Sign-in failed")


def apple_pay(orig: dict[str, Any], session: str, params: Mapping[str, object],
              gateway: dict[str, Any]) -> dict[str, Any]:
    """``gateway`` is what the business's payment gateway answered (or why it was not called)."""
    status = "success" if gateway.get("approved") else "failed"
    # What the gateway said stays in the control plane's answer and the device view, not in the MSP's reply.
    value = {"status": status, "paymentMethod": gateway.get("paymentMethod"),
             "transactionIdentifier": gateway.get("transactionIdentifier")}
    total = (gateway.get("total") or (orig["data"]["payment"].get("paymentRequest") or {}).get("total")
             or {}).get("amount", "")
    return _base(orig, session, value, "payment", f"Paid {total}" if status == "success" else "Payment failed")


def form(orig: dict[str, Any], session: str, params: Mapping[str, object]) -> dict[str, Any]:
    dynamic = orig["data"]["dynamic"]
    answers = params.get("answers") or {}
    if not isinstance(answers, dict):
        raise ReplyError('"answers" must be an object of pageIdentifier -> item ids or text')
    pages = dynamic["data"]["pages"]
    known = {p["pageIdentifier"] for p in pages}
    unknown = [k for k in answers if k not in known]
    if unknown:
        raise ReplyError(f"unknown form page(s) {unknown}; the form has {sorted(known)}")
    selections: list[dict[str, Any]] = []
    for page in pages:
        answer = answers.get(page["pageIdentifier"])
        entry: dict[str, Any] = {"pageIdentifier": page["pageIdentifier"], "title": page.get("title", "")}
        items = page.get("items") or []
        if page["type"] in ("select", "picker") and items:
            wanted = [answer] if isinstance(answer, str) else (answer or [items[0]["identifier"]])
            if not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted):
                raise ReplyError(f"page {page['pageIdentifier']}: the answer must be an item identifier or a list of"
                                 " them")
            chosen = [i for i in items if i["identifier"] in wanted]
            if len(chosen) != len(wanted):
                raise ReplyError(f"page {page['pageIdentifier']}: unknown item(s) in {wanted}")
            if len(chosen) > 1 and not page.get("multipleSelection", False):
                raise ReplyError(f"page {page['pageIdentifier']} does not allow multipleSelection")
            entry["items"] = chosen
        else:
            entry["input"] = str(answer if answer is not None else
                                 (page.get("options") or {}).get("placeholder") or "simulated answer")
        selections.append(entry)
    value = {k: v for k, v in dynamic.items() if k in ("version", "template")}
    value["selections"] = selections
    return _base(orig, session, value, "dynamic", "Form submitted")


def custom_app(orig: dict[str, Any], session: str, params: Mapping[str, object]) -> dict[str, Any]:
    reply_message = dict(orig.get("replyMessage") or {"title": orig.get("appName", "Reply")})
    reply = {"bid": orig["bid"], "sessionIdentifier": session, "URL": str(params.get("url", orig.get("URL", ""))),
             "replyMessage": reply_message}
    if orig.get("receivedMessage"):
        reply["receivedMessage"] = orig["receivedMessage"]
    return reply


def _index(params: Mapping[str, object], count: int) -> int:
    index = params.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise ReplyError(f'"index" must be an integer from 0 to {count - 1}')
    return index


def encrypt_legacy_token(public_key_b64: str, token: str) -> str:
    """Legacy AUTH: ECDH P-384 with an ephemeral key, ANSI X9.63 KDF (SHA-256), AES-256-GCM; blob = V ‖ ct ‖ tag."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), base64.b64decode(public_key_b64))
    except ValueError as exc:
        raise ReplyError(f"responseEncryptionKey is not a P-384 public point: {exc}") from None
    ephemeral = ec.generate_private_key(ec.SECP384R1())
    from cryptography.hazmat.primitives import serialization

    v = ephemeral.public_key().public_bytes(serialization.Encoding.X962,
                                            serialization.PublicFormat.UncompressedPoint)
    z = ephemeral.exchange(ec.ECDH(), peer)
    material = b""
    counter = 1
    while len(material) < 48:
        material += hashlib.sha256(z + counter.to_bytes(4, "big") + v).digest()
        counter += 1
    key, iv = material[:32], material[32:48]
    return base64.b64encode(v + AESGCM(key).encrypt(iv, token.encode(), None)).decode()
