"""The simulated devices: business messages arrive here in the order the gateway answered 200, decoded
(attachments decrypted, data refs resolved); scripted behaviour is scheduled from what arrives."""
from __future__ import annotations

from typing import Any

from simulator.business_chat.config import BUILTIN_BID, BCConfig
from simulator.business_chat.errors import ConversationClosed, ConversationNotStarted
from simulator.business_chat.events import DeviceMessage
from simulator.business_chat.validation import FEATURES
from simulator.core import scheduler as sched
from simulator.core.codec import dumps, loads
from simulator.core.simulation import Simulation
from simulator.core.store import Tx

BEHAVIOUR_JOB = "business_chat.behaviour"
# behaviour key in the customer's config → the feature it answers
ANSWER_KEYS = {"answer_list_picker": "listPicker", "answer_time_picker": "event", "answer_quick_reply": "quick-reply",
               "answer_authentication": "authenticate", "approve_apple_pay": "payment", "submit_form": "dynamic",
               "answer_custom_app": "customApp"}


def feature_of(interactive: dict[str, Any] | None) -> str:
    if not isinstance(interactive, dict):
        return ""
    if interactive.get("bid") not in (None, BUILTIN_BID):
        return "customApp"
    data = interactive.get("data") or {}
    return next((f for f in FEATURES if f in data), "")


async def record(tx: Tx, sim: Simulation, direction: str, business_id: str, customer_id: str, body: dict[str, Any],
                 view: dict[str, Any], request_id: str = "", feature: str = "", payload_blob: str | None = None,
                 reopened: bool = False) -> int:
    await sim.events.emit(tx, DeviceMessage(direction, business_id, customer_id, body, view, feature,
                                            payload_blob is not None or "interactiveDataRef" in body, reopened))
    shown = view.get("interactive")
    if isinstance(shown, dict) and shown.get("interactiveData") is body.get("interactiveData") is not None:
        # Stored once (a list picker can be 50 KB+): view_row puts it back from the message.
        view = {**view, "interactive": {**{k: v for k, v in shown.items() if k != "interactiveData"},
                                        "interactiveDataInMessage": True}}
    interactive = body.get("interactiveData")
    if payload_blob is not None and isinstance(interactive, dict):
        # The payload is already in the data-ref blob (the same bytes): the row keeps a pointer, not a second copy
        # (a 50 KB list picker written twice was ~30 % of its send). Blobs outlive the rows that point at them:
        # a business's data-ref blobs go only with a reset that also empties its device messages.
        body = {**{k: v for k, v in body.items() if k != "interactiveData"},
                "interactiveDataBlob": {"id": payload_blob, "sessionIdentifier": interactive.get("sessionIdentifier")}}
    return await tx.insert(
        "INSERT INTO bc_device_messages (id, direction, business_id, customer_id, type, request_id, feature,"
        " created_at, data) VALUES (?,?,?,?,?,?,?,?,?)",
        (body.get("id", ""), direction, business_id, customer_id, body.get("type", ""), request_id, feature,
         sim.clock.now_ms(), dumps({"message": body, "view": view})))


async def stored_interactive(conn: Any, message: dict[str, Any]) -> dict[str, Any] | None:
    """The interactiveData a device message holds, inline or in the data-ref blob it points at (see record)."""
    if "interactiveData" in message:
        return message["interactiveData"]  # type: ignore[no-any-return]
    ref = message.get("interactiveDataBlob")
    if not isinstance(ref, dict):
        return None
    row = await conn.fetch_one("SELECT data FROM bc_blobs WHERE id=?", (ref.get("id"),))
    if row is None or row[0] is None:
        return None
    interactive = dict(loads(bytes(row[0])))
    if ref.get("sessionIdentifier") is not None:
        interactive["sessionIdentifier"] = ref["sessionIdentifier"]
    return interactive


async def receive(tx: Tx, sim: Simulation, config: BCConfig, directory: Any, business_id: str,
                  customer: dict[str, Any], body: dict[str, Any], attachments: list[dict[str, Any]],
                  interactive: dict[str, Any] | None, *, app_clip: dict[str, Any] | None = None,
                  payload_blob: str | None = None) -> None:
    """A business message reaches the device (inside the gateway's transaction, before its 200)."""
    conversation = await directory.conversation(tx, business_id, customer["id"])
    if (not conversation["started"] and not customer.get("existingConversation")
            and config.unstarted_conversation_status != 200):
        raise ConversationNotStarted(
            f"the customer {customer['id']} has not written to business {business_id}: only the customer can start "
            "a conversation", status=config.unstarted_conversation_status,
            details=[{"header": "destination-id", "message": "no conversation: the customer never wrote"}])
    if conversation["closed"] and config.closed_conversation_status != 200:
        raise ConversationClosed(
            f"the customer {customer['id']} closed this conversation; messages are refused until they write again",
            status=config.closed_conversation_status,
            details=[{"header": "destination-id", "message": "conversation closed by the customer"}])
    view: dict[str, Any] = {"type": body["type"]}
    if conversation["closed"]:
        view["dropped"] = "conversation closed by the customer"  # closed_conversation_status: 200 → accepted, dropped
    if "body" in body:
        view["body"] = body["body"]
    if attachments:
        view["attachments"] = attachments
    feature = feature_of(interactive)
    request_id = ""
    if interactive is not None:
        interactive = dict(interactive)
        # Apple generates a session id when the business gives none; it comes back in the reply.
        interactive.setdefault("sessionIdentifier", sim.random.uuid().upper())
        request_id = str((interactive.get("data") or {}).get("requestIdentifier") or body["id"])
        view["interactive"] = {"feature": feature, "requestIdentifier": request_id, "interactiveData": interactive}
    if "richLinkData" in body:
        rich = body["richLinkData"]
        view["richLink"] = {k: v for k, v in rich.items() if k in ("url", "title")}
        assets = rich.get("assets")
        image = assets.get("image") if isinstance(assets, dict) else None
        if isinstance(image, dict) and isinstance(image.get("data"), str) and isinstance(image.get("mimeType"), str):
            # The phone shows the preview image the business sent, as a data URL (the schema checked both fields).
            view["richLink"]["image"] = f"data:{image['mimeType']};base64,{image['data']}"
    if app_clip is not None:  # richLinkDataRef from /v1/constructPayload
        view["richLink"] = {k: app_clip[k] for k in ("url", "title", "appClip") if k in app_clip}
    stored = dict(body)
    if interactive is not None:
        stored["interactiveData"] = interactive
        stored.pop("interactiveDataRef", None)
    await record(tx, sim, "received", business_id, customer["id"], stored, view, request_id, feature,
                 payload_blob=payload_blob)
    if conversation["closed"] or body["type"] in ("typing_start", "typing_end"):
        return
    count = await directory.count_received(tx, business_id, customer["id"])
    await _schedule_behaviour(tx, sim, business_id, customer, body, feature, request_id, count)


async def _schedule_behaviour(tx: Tx, sim: Simulation, business_id: str, customer: dict[str, Any],
                              body: dict[str, Any], feature: str, request_id: str, count: int) -> None:
    behaviour = customer.get("behaviour") or {}
    now = sim.clock.now_ms()

    async def later(spec: Any, action: dict[str, Any]) -> None:
        spec = spec if isinstance(spec, dict) else {}
        due = now + int(float(spec.get("after_seconds", 1)) * 1000)
        await sched.schedule(tx, BEHAVIOUR_JOB, due, customer["id"],
                             {"business": business_id, "customer": customer["id"], **action}, scope=business_id)
        tx.after_commit.append(sim.scheduler.wake)

    if body["type"] == "text" and "reply_to_text" in behaviour:
        spec = behaviour["reply_to_text"]
        text = spec.get("text", "agent") if isinstance(spec, dict) else str(spec)
        await later(spec, {"action": "text", "params": {"text": text}})
    for key, wanted in ANSWER_KEYS.items():
        if feature and feature == wanted and key in behaviour:
            spec = behaviour[key]
            params = {k: v for k, v in (spec if isinstance(spec, dict) else {}).items() if k != "after_seconds"}
            await later(spec, {"action": "answer", "feature": feature, "requestIdentifier": request_id,
                               "params": params})
    close_after = behaviour.get("close_after_messages")
    if isinstance(close_after, int) and count == close_after:
        await later(behaviour.get("close", {"after_seconds": 0}), {"action": "close", "params": {}})


async def view_row(conn: Any, row: Any) -> dict[str, Any]:
    data = loads(row["data"])
    out = {"seq": row["seq"], "id": row["id"], "direction": row["direction"], "businessId": row["business_id"],
           "type": row["type"], "at": row["created_at"], **data["view"]}
    shown = out.get("interactive")
    if isinstance(shown, dict) and shown.pop("interactiveDataInMessage", False):
        shown["interactiveData"] = await stored_interactive(conn, data["message"])
    if row["request_id"]:
        out.setdefault("interactive", {})["answered"] = bool(row["answered"])
    return out


async def inbox(conn: Any, customer_id: str, direction: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM bc_device_messages WHERE customer_id=?"
    params: list[Any] = [customer_id]
    if direction:
        sql += " AND direction=?"
        params.append(direction)
    rows = await conn.fetch_all(sql + " ORDER BY seq", params)
    return [await view_row(conn, r) for r in rows]
