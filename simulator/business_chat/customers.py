"""What a simulated customer does: type, write, send attachments, tap back, close, answer interactive messages.
Used by the control plane and by scripted behaviour (scheduler jobs); every action runs inside a transaction
so the device record and the outbox delivery commit together."""
from __future__ import annotations

import json
from typing import Any

from simulator.business_chat import replies, webhooks
from simulator.business_chat.config import BCConfig
from simulator.business_chat.device import record
from simulator.core.simulation import Simulation
from simulator.core.store import Tx

TAPBACKS = {"love": "Loved", "like": "Liked", "dislike": "Disliked", "laugh": "Laughed at",
            "emphasize": "Emphasized", "question": "Questioned"}


class ActionError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Customer:
    """One customer's device talking to one business, bound to the transaction it acts in."""

    def __init__(self, sim: Simulation, provider: Any, tx: Tx, business_id: str, customer: dict[str, Any]) -> None:
        self.sim = sim
        self.p = provider
        self.config: BCConfig = provider.config
        self.tx = tx
        self.business_id = business_id
        self.customer = customer

    async def _send(self, kind: str, view: dict[str, Any] | None = None, request_id: str = "", feature: str = "",
                    **fields: Any) -> dict[str, Any]:
        body = webhooks.envelope(self.sim.random.uuid(), kind, self.customer, self.business_id, **fields)
        endpoints = await self.p.directory.business_endpoints(self.tx, self.business_id)
        outbox_id = await webhooks.emit(self.tx, self.sim.outbox, self.config, endpoints["webhookUrl"],
                                       self.customer, self.business_id, body)
        shown = {"type": kind, **(view or {}), "delivery": "queued" if outbox_id else "no webhook_url configured"}
        reopened = False
        if kind in ("text", "interactive"):
            # Writing again re-opens a conversation the customer closed.
            directory = self.p.directory
            reopened = bool((await directory.conversation(self.tx, self.business_id, self.customer["id"]))["closed"])
            await directory.set_closed(self.tx, self.business_id, self.customer["id"], False)
        await record(self.tx, self.sim, "sent", self.business_id, self.customer["id"], body, shown, request_id,
                     feature, reopened=reopened)
        return body

    async def typing(self, start: bool = True) -> dict[str, Any]:
        return await self._send("typing_start" if start else "typing_end")

    async def text(self, text: str, *, typing: bool = True, intent: str | None = None,
                   group: str | None = None) -> dict[str, Any]:
        """``intent`` / ``group`` override the customer's defaults (digest §4: from biz-intent-id / biz-group-id)."""
        if typing:
            await self.typing(True)  # devices send typing_start before the text
        view = {"body": text, **{k: v for k, v in (("intent", intent), ("group", group)) if v is not None}}
        return await self._send("text", view, body=text, intent=intent, group=group)

    async def close(self) -> dict[str, Any]:
        body = await self._send("close")
        await self.p.directory.set_closed(self.tx, self.business_id, self.customer["id"], True)
        return body

    async def attachment(self, name: str, mime_type: str, plaintext: bytes, text: str = "") -> dict[str, Any]:
        key = self.sim.random.token_bytes(32)  # a fresh key per attachment
        att = await webhooks.store_attachment(self.tx, self.p.blobs, self.config, key, self.business_id,
                                             self.customer["id"], name, mime_type, plaintext)
        from simulator.business_chat.crypto import sha256_hex

        body_text = (text + " " if text else "") + "\ufffc"
        await self.typing(True)
        view = {"body": body_text, "attachments": [{"name": name, "mimeType": mime_type, "size": len(plaintext),
                                                    "sha256": sha256_hex(plaintext)}]}
        return await self._send("text", view, body=body_text, attachments=[att])

    async def tapback(self, reaction: str, message_id: str | None) -> dict[str, Any]:
        verb = TAPBACKS.get(reaction)
        if verb is None:
            raise ActionError(f'"reaction" must be one of {", ".join(TAPBACKS)}')
        target = await self._last_received(message_id)
        if target is None:
            raise ActionError("no business message to react to", 404)
        message = target["message"]
        if message.get("type") == "text" and message.get("attachments"):
            quoted = "an image" if str(message["attachments"][0].get("mimeType", "")).startswith("image/") \
                else "an attachment"
            sentence = f"{verb} {quoted}"
        elif message.get("type") == "text":
            sentence = f'{verb} “{message.get("body", "")}”'
        else:
            sentence = f"{verb} 1 Business Message"
        return await self._send("text", {"body": sentence, "tapback": reaction}, body=sentence)

    async def _last_received(self, message_id: str | None) -> dict[str, Any] | None:
        sql = ("SELECT data FROM bc_device_messages WHERE customer_id=? AND business_id=? AND direction='received'"
               " AND type NOT IN ('typing_start','typing_end')")
        params: list[Any] = [self.customer["id"], self.business_id]
        if message_id:
            sql += " AND id=?"
            params.append(message_id)
        row = await self.tx.fetch_one(sql + " ORDER BY seq DESC LIMIT 1", params)
        return json.loads(row[0]) if row else None

    async def answer(self, feature: str, request_id: str | None, params: dict[str, Any],
                     gateway: dict[str, Any] | None = None) -> dict[str, Any]:
        row = await find_interactive(self.tx, self.business_id, self.customer["id"], feature, request_id)
        if row is None:
            what = f"requestIdentifier {request_id!r}" if request_id else f"{feature or 'interactive'} message"
            raise ActionError(f"the device has no unanswered {what} from business {self.business_id}", 404)
        seq, orig = row
        session = orig.get("sessionIdentifier", "")
        feature = feature or _feature(orig)
        params = _choose(feature, orig, params)
        try:
            builder = {"listPicker": replies.list_picker, "event": replies.time_picker,
                       "quick-reply": replies.quick_reply, "authenticate": replies.authenticate,
                       "dynamic": replies.form, "customApp": replies.custom_app}.get(feature)
            if feature == "payment":
                reply = replies.apple_pay(orig, session, params, gateway or {"approved": False,
                                                                             "summary": "gateway not called"})
            elif builder is None:
                raise ActionError(f"cannot answer a {feature!r} message")
            else:
                reply = builder(orig, session, params)
        except replies.ReplyError as exc:
            raise ActionError(str(exc)) from None
        key = self.sim.random.token_bytes(32)
        payload = await webhooks.interactive_payload(self.tx, self.p.blobs, self.config, key, self.business_id,
                                                    self.customer["id"], reply)
        await self.tx.execute("UPDATE bc_device_messages SET answered=1 WHERE seq=?", (seq,))
        view = {"interactive": {"feature": feature, "requestIdentifier": reply.get("data", {}).get(
            "requestIdentifier", ""), "reply": reply, "inline": "interactiveData" in payload}}
        if feature == "payment" and gateway is not None:
            view["interactive"]["paymentGateway"] = gateway  # the update endpoints and gateway, as the device saw them
        return await self._send("interactive", view, "", feature, **payload)


def _feature(orig: dict[str, Any]) -> str:
    from simulator.business_chat.device import feature_of

    return feature_of(orig)


def _choose(feature: str, orig: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Scripted shortcuts: choose: first | last | all (list pickers; first/last elsewhere)."""
    choose = params.get("choose")
    if not isinstance(choose, str):
        return params
    params = {k: v for k, v in params.items() if k != "choose"}
    data = orig.get("data") or {}
    if feature == "listPicker":
        sections = data["listPicker"]["sections"]
        if choose == "all":
            params["items"] = [i["identifier"] for s in sections if s.get("multipleSelection") for i in s["items"]] \
                or [sections[0]["items"][0]["identifier"]]
        elif choose == "last":
            params["items"] = [sections[-1]["items"][-1]["identifier"]]
        else:
            params["items"] = [sections[0]["items"][0]["identifier"]]
    elif feature in ("event", "quick-reply"):
        count = len(data["event"]["timeslots"] if feature == "event" else data["quick-reply"]["items"])
        params["index"] = count - 1 if choose == "last" else 0
    return params


async def find_interactive(conn: Any, business_id: str, customer_id: str, feature: str,
                           request_id: str | None) -> tuple[int, dict[str, Any]] | None:
    sql = ("SELECT seq, data FROM bc_device_messages WHERE customer_id=? AND business_id=? AND direction='received'"
           " AND type='interactive' AND answered=0")
    params: list[Any] = [customer_id, business_id]
    if request_id:
        sql += " AND request_id=?"
        params.append(request_id)
    if feature:
        sql += " AND feature=?"
        params.append(feature)
    row = await conn.fetch_one(sql + " ORDER BY seq DESC LIMIT 1", params)
    if row is None:
        return None
    from simulator.business_chat.device import stored_interactive

    interactive = await stored_interactive(conn, json.loads(row[1])["message"])
    return None if interactive is None else (int(row[0]), interactive)
