"""Business Chat's control plane (/_sim/business-chat/...): customers act, tests look at devices."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from simulator.business_chat import device
from simulator.business_chat.customers import ActionError, Customer
from simulator.business_chat.provider import provider_of
from simulator.business_chat.service import BusinessChat
from simulator.control.common import control_body, sim_of
from simulator.control.errors import ControlError, ControlNotFound
from simulator.control.routing import Param, query, route

P = "/_sim/business-chat"
# Opaque ids may contain '/', '+', '=' (digest §1): {customer_id:path} takes them raw or percent-encoded (%2F); each
# route ends in a fixed suffix, so the id is everything between /customers/ and that suffix.
C = P + "/businesses/{business_id}/customers/{customer_id:path}"
FEATURE_PATHS = {"list-picker": "listPicker", "time-picker": "event", "quick-reply": "quick-reply",
                 "authentication": "authenticate", "apple-pay": "payment", "form": "dynamic",
                 "custom-app": "customApp", "interactive": ""}


def _bc(request: Request) -> BusinessChat:
    bc = provider_of(request).service
    if bc is None:
        raise ControlNotFound("Business Chat is not configured in this world (no business_chat section)")
    return bc


def _business(request: Request, bc: BusinessChat) -> str:
    business_id: str = request.path_params["business_id"]
    if not bc.directory.known_business(business_id):
        raise ControlNotFound(f"unknown business {business_id}; known: {', '.join(bc.config.businesses)}")
    return business_id


async def _act(request: Request, fn: Callable[[Customer, dict[str, Any]], Awaitable[dict[str, Any]]],
               required: bool = False) -> Response:
    bc = _bc(request)
    business_id = _business(request, bc)
    body = await control_body(request, required=required)
    try:
        sent = await bc.act(business_id, request.path_params["customer_id"], lambda c: fn(c, body))
    except ActionError as exc:
        raise ControlError(str(exc), status=exc.status,
                           code="NotFound" if exc.status == 404 else "BadRequest") from exc
    return JSONResponse({"sent": sent})


def _text(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or (default is None and not value):
        raise ControlError(f'"{name}" must be a non-empty string', details={name: ["required string"]})
    return value


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ControlError(f'"{name}" must be a string', details={name: ["string"]})
    return value


async def send_text(request: Request) -> Response:
    return await _act(request, lambda c, b: c.text(_text(b, "text"), typing=b.get("typing", True) is not False,
                                                    intent=_optional_text(b, "intent"),
                                                    group=_optional_text(b, "group")), True)


async def send_attachment(request: Request) -> Response:
    async def run(c: Customer, b: dict[str, Any]) -> dict[str, Any]:
        if isinstance(b.get("data"), str):
            try:
                data = base64.b64decode(b["data"], validate=True)
            except (binascii.Error, ValueError):
                raise ControlError('"data" must be base64') from None
        elif isinstance(b.get("text"), str):
            data = b["text"].encode()
        else:
            raise ControlError('give the file as "data" (base64) or "text"')
        return await c.attachment(_text(b, "name", "file.bin") or "file.bin",
                                  _text(b, "mimeType", "application/octet-stream"), data, str(b.get("body", "")))
    return await _act(request, run, True)


async def typing(request: Request) -> Response:
    start = request.path_params["what"] == "start"
    return await _act(request, lambda c, b: c.typing(start))


async def close(request: Request) -> Response:
    return await _act(request, lambda c, b: c.close())


async def tapback(request: Request) -> Response:
    return await _act(request, lambda c, b: c.tapback(str(b.get("reaction", "like")), b.get("messageId")))


async def answer(request: Request) -> Response:
    """POST .../answer/<list-picker|time-picker|quick-reply|authentication|apple-pay|form|custom-app|interactive>"""
    feature = FEATURE_PATHS.get(request.path_params["feature"])
    if feature is None:
        raise ControlNotFound(f"unknown answer kind; use one of {', '.join(FEATURE_PATHS)}")
    bc = _bc(request)
    business_id = _business(request, bc)
    body = await control_body(request)
    request_id = body.get("requestIdentifier")
    gateway = None
    try:
        if feature == "payment":
            gateway = await bc.payment_gateway(business_id, request.path_params["customer_id"], request_id, body)
        sent = await bc.act(business_id, request.path_params["customer_id"],
                            lambda c: c.answer(feature, request_id, body, gateway))
    except ActionError as exc:
        raise ControlError(str(exc), status=exc.status,
                           code="NotFound" if exc.status == 404 else "BadRequest") from exc
    return JSONResponse({"sent": sent, **({"paymentGateway": gateway} if gateway else {})})


async def device_messages(request: Request) -> Response:
    """What the customer's device received (decoded) and sent, in order."""
    bc = _bc(request)
    sim = sim_of(request)
    customer_id = request.path_params["customer_id"]
    if await bc.directory.customer(sim.store, customer_id) is None:
        raise ControlNotFound(f"unknown customer {customer_id}")
    direction = query(request, "direction")
    if direction not in (None, "received", "sent"):
        raise ControlError('"direction" must be received or sent')
    messages = await device.inbox(sim.store, customer_id, direction)
    conversations = await sim.store.fetch_all(
        "SELECT business_id, closed, received_count FROM bc_conversations WHERE customer_id=?", (customer_id,))
    return JSONResponse({"customer": customer_id, "messages": messages,
                         "conversations": [{"businessId": r[0], "closed": bool(r[1]), "receivedCount": r[2]}
                                           for r in conversations]})


async def list_customers(request: Request) -> Response:
    bc = _bc(request)
    return JSONResponse({"customers": await bc.directory.all_customers(sim_of(request).store)})


async def create_customer(request: Request) -> Response:
    bc = _bc(request)
    sim = sim_of(request)
    body = await control_body(request)
    raw: dict[str, Any] = {
        "id": body.get("id") or "urn:mbid:AQAAY" + base64.b64encode(sim.random.token_bytes(24)).decode().rstrip("="),
        "name": body.get("name", ""), "business_id": body.get("businessId", ""),
        "device_agent": body.get("deviceAgent"), "capabilities": body.get("capabilities"),
        "locale": body.get("locale", "en_US"), "behaviour": body.get("behaviour") or {},
        "existingConversation": body.get("existingConversation", False),
        "intent": _optional_text(body, "intent"), "group": _optional_text(body, "group"),
    }
    # Checked as a customer of the world config is (id pattern, types, device agents, capabilities, behaviour
    # knobs): a wrongly typed knob would otherwise fail later, inside the send that meets it.
    as_configured = {k: v for k, v in {
        "id": raw["id"], "name": body.get("name"), "business_id": raw["business_id"] or None,
        "device_agent": raw["device_agent"], "capabilities": raw["capabilities"], "locale": body.get("locale"),
        "existing_conversation": raw["existingConversation"], "intent": body.get("intent"),
        "group": body.get("group"), "behaviour": body.get("behaviour")}.items() if v is not None}
    problems = sim.schemas.issues("config/world#/$defs/customer", as_configured)
    if problems:
        camel = {"business_id": "businessId", "device_agent": "deviceAgent", "existing_conversation":
                 "existingConversation"}
        details = {".".join(camel.get(str(p), str(p)) for p in issue.path) or ".": [issue.message]
                   for issue in problems}
        raise ControlError("invalid customer: " + "; ".join(f"{k}: {v[0]}" for k, v in details.items()),
                           details=details)
    if not isinstance(raw["existingConversation"], bool):
        raise ControlError('"existingConversation" must be true or false (true: the customer counts as having '
                           'written before, so the business may message them first)')
    if not isinstance(raw["business_id"], str):
        raise ControlError('"businessId" must be a string: the id of one of the world\'s businesses')
    if raw["business_id"] and not bc.directory.known_business(raw["business_id"]):
        raise ControlError(f"unknown businessId {raw['business_id']}")
    async with sim.store.transaction() as tx:
        customer = await bc.directory.create_customer(tx, raw)
    return JSONResponse(customer, status_code=201)


async def business(request: Request) -> Response:
    bc = _bc(request)
    sim = sim_of(request)
    business_id = _business(request, bc)
    if request.method == "POST":
        body = await control_body(request, required=True)
        for key in ("webhookUrl", "paymentGatewayUrl"):
            if key not in body:
                continue
            problem = (sim.outbox.url_rule.problem(body[key]) if isinstance(body[key], str)
                       else "must be a string")  # the rule for every URL the simulator calls (core/urls.py)
            if problem:
                raise ControlError(f'"{key}" {problem}', details={key: ["invalid"]})
        async with sim.store.transaction() as tx:
            await bc.directory.set_business_endpoints(tx, business_id, body.get("webhookUrl"),
                                                      body.get("paymentGatewayUrl"))
    endpoints = await bc.directory.business_endpoints(sim.store, business_id)
    return JSONResponse({"id": business_id, "name": bc.config.businesses[business_id].name, **endpoints})


async def overview(request: Request) -> Response:
    bc = _bc(request)
    cfg = bc.config
    return JSONResponse({
        "mspId": cfg.msp_id, "secret": cfg.secret_b64, "gateway": sim_of(request).settings.base_url + "/v1",
        "businesses": list(cfg.businesses),
        "settings": {"jwtMaxAgeSeconds": cfg.jwt_max_age_s, "acceptRawSecret": cfg.accept_raw_secret,
                     "legacyAttachmentKeys": cfg.legacy_attachment_keys,
                     "downloadUrlTtlSeconds": cfg.download_url_ttl_s, "idrThresholdBytes": cfg.idr_threshold_bytes,
                     "closedConversationStatus": cfg.closed_conversation_status,
                     "unstartedConversationStatus": cfg.unstarted_conversation_status,
                     "webhookTimeoutSeconds": cfg.webhook_timeout_s,
                     "enforceCapabilities": cfg.enforce_capabilities, "attachmentKeyCheck": cfg.attachment_key_check,
                     "appClipUrls": [{"url": u, "title": t} if t else u for u, t in cfg.app_clips.items()]},
    })


KEY_CHECKS = ("report", "refuse", "off")


async def put_settings(request: Request) -> Response:
    """Change what the world config set, until the next full reset: today the attachment key check."""
    provider = provider_of(request)
    _bc(request)  # 404 in Business Chat's shape when the world has none
    body = await control_body(request)
    unknown = sorted(set(body) - {"attachmentKeyCheck"})
    if unknown:
        raise ControlError(f"unknown field(s): {', '.join(unknown)}", details={k: ["unknown field"] for k in unknown})
    check = body.get("attachmentKeyCheck")
    if check is not None and check not in KEY_CHECKS:
        raise ControlError(f'"attachmentKeyCheck" must be one of {", ".join(KEY_CHECKS)}',
                           details={"attachmentKeyCheck": ["invalid"]})
    provider.apply_settings({"attachmentKeyCheck": check} if check is not None else {})
    return JSONResponse(provider.settings())


routes: list[BaseRoute] = [
    route("GET", P, overview, "Business Chat: MSP id, secret, gateway URL, businesses and settings."),
    route("PUT", P + "/settings", put_settings,
          "Change a setting until the next full reset: attachmentKeyCheck report (default: 200 as Apple, the "
          "device view says the customer could not open the file) | refuse (400, stricter than Apple) | off.",
          example={"attachmentKeyCheck": "refuse"}),
    route("GET", P + "/customers", list_customers, "Simulated customers (seeded and created)."),
    route("POST", P + "/customers", create_customer,
          "Create a simulated customer (id, name, businessId, capabilities, behaviour ...).",
          example={"name": "Cleo", "capabilities": ["LIST", "TIME"]}),
    route("GET", P + "/customers/{customer_id:path}/device", device_messages,
          "What the customer's device received (decoded) and sent, in order, and its conversations.",
          query=(Param("direction", "received | sent", "received"),)),
    route("GET", P + "/businesses/{business_id}", business, "A business and its MSP endpoints (webhook URL ...)."),
    route("POST", P + "/businesses/{business_id}", business, "Set a business's webhookUrl / paymentGatewayUrl.",
          example={"webhookUrl": "http://127.0.0.1:9000"}),
    route("POST", C + "/text", send_text, "The customer writes a text message (delivered to the MSP webhook).",
          example={"text": "I need help"}),
    route("POST", C + "/attachment", send_attachment,
          "The customer sends an attachment (encrypted and uploaded like a device would).",
          example={"name": "photo.jpg", "mimeType": "image/jpeg", "data": "<base64>"}),
    route("POST", C + "/typing/{what:str}", typing, "The customer starts or stops typing (what = start | end)."),
    route("POST", C + "/close", close, "The customer closes the conversation."),
    route("POST", C + "/tapback", tapback, "The customer reacts to a message with a tapback.",
          example={"reaction": "love"}),
    route("POST", C + "/answer/{feature}", answer,
          "The customer answers an interactive message (feature = list-picker | time-picker | quick-reply | "
          "authentication | apple-pay | form | custom-app | interactive).", example={"choose": "first"}),
]
