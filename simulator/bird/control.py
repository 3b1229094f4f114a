"""Bird's part of the control plane (/_sim/bird/...): what a test does that Bird's API cannot (force an outcome, a
customer writing in or clicking a link), and Bird's messages seen without an access key, with their timeline."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from simulator.bird import lifecycle, rate_limits
from simulator.bird.errors import BirdError, NotFound
from simulator.bird.provider import RATE_LIMITS_STATE, bird_of
from simulator.control.common import control_body, number_field, sim_of
from simulator.control.errors import ControlError, ControlNotFound
from simulator.control.outbox import deliveries
from simulator.control.routing import Param, query, route
from simulator.core.deliveries import DeliveryFilter


async def force_status(request: Request) -> Response:
    body = await control_body(request, required=True)
    status = body.get("status")
    if not isinstance(status, str) or status not in lifecycle.FORCEABLE:
        raise ControlError(f'"status" must be one of {", ".join(sorted(lifecycle.FORCEABLE))}',
                           details={"status": ["invalid"]})
    try:
        message = await bird_of(request).lifecycle.force(request.path_params["message_id"],
                                                         lifecycle.FORCEABLE[status])
    except NotFound as exc:
        raise ControlNotFound(exc.message) from None
    return JSONResponse(message)


async def outcomes(request: Request) -> Response:
    world = bird_of(request).world
    return JSONResponse({"outcomes": world.outcomes, "available": list(lifecycle.OUTCOMES),
                         "timingProfiles": world.timing_profiles})


async def inbound(request: Request) -> Response:
    sim, bird = sim_of(request), bird_of(request)
    body = await control_body(request, required=True)
    issues = sim.schemas.issues("bird/inbound", body)
    if issues:
        details: dict[str, list[str]] = {}
        for issue in issues:
            details.setdefault(issue.jq_path().lstrip(".") or ".", []).append(issue.message)
        raise ControlError("invalid inbound message: " + "; ".join(f"{k}: {v[0]}" for k, v in details.items()),
                           details=details)
    channel = bird.world.channel(body["channelId"])
    if channel is None:
        raise ControlNotFound(f"channel {body['channelId']} not found")
    text = body.get("text", "")
    media_in = body.get("media") or []
    if not text and not media_in:
        raise ControlError('an inbound message needs "text" or "media"', details={"text": ["required"]})
    if media_in and not channel.mms:
        raise ControlError(f"channel {channel.id} ({channel.number}) is SMS only and cannot receive MMS",
                           details={"media": ["channel is not MMS capable"]})
    media: list[tuple[str, bytes, str]] = []
    for i, item in enumerate(media_in):
        if "base64" in item:
            try:
                data = base64.b64decode(item["base64"], validate=True)
            except (binascii.Error, ValueError):
                raise ControlError(f"media[{i}].base64 is not valid base64", details={f"media[{i}].base64":
                                                                                       ["invalid base64"]}) from None
        else:
            found = await bird.media.read_uploaded(channel.workspace_id, item["mediaId"])
            if found is None:
                raise ControlNotFound(f"media {item['mediaId']} was not uploaded to workspace {channel.workspace_id}")
            data = found[0]
        media.append((item["contentType"], data, item.get("filename", "")))
    message = await bird.customers.receive(channel, body["from"], text, media)
    return JSONResponse(message, status_code=201)


async def click(request: Request) -> Response:
    body = await control_body(request, required=True)
    url = body.get("url")
    if not isinstance(url, str) or not url:
        raise ControlError('"url" (the link that was clicked) is required', details={"url": ["required"]})
    prefetched = body.get("prefetched", False)
    if not isinstance(prefetched, bool):
        raise ControlError('"prefetched" must be a boolean', details={"prefetched": ["must be a boolean"]})
    try:
        interaction = await bird_of(request).interactions.click(request.path_params["message_id"], url,
                                                                prefetched=prefetched)
    except NotFound as exc:
        raise ControlNotFound(exc.message) from None
    except BirdError as exc:
        raise ControlError(exc.message, status=exc.status, code=exc.code) from None
    return JSONResponse(interaction, status_code=201)


async def opt_outs(request: Request) -> Response:
    return JSONResponse({"results": await bird_of(request).customers.opt_outs(query(request, "workspaceId"))})


async def get_rate_limits(request: Request) -> Response:
    return JSONResponse(bird_of(request).rate_limits.describe())


async def put_rate_limits(request: Request) -> Response:
    limits = bird_of(request).rate_limits
    body = await control_body(request)
    unknown = sorted(set(body) - {"getPerSecond", "postPerSecond", "enabled"})
    if unknown:
        raise ControlError(f"unknown field(s): {', '.join(unknown)}", details={k: ["unknown field"] for k in unknown})
    if "enabled" in body and not isinstance(body["enabled"], bool):
        raise ControlError('"enabled" must be true or false', details={"enabled": ["must be a boolean"]})
    if body.get("enabled") is False:
        limits.set(None, None)
    else:
        values = {}
        for name in ("getPerSecond", "postPerSecond"):
            value = number_field(body, name, minimum=1, maximum=1_000_000, default=rate_limits.DOCUMENTED[name])
            if not value.is_integer():
                raise ControlError(f'"{name}" must be a whole number', details={name: ["must be an integer"]})
            values[name] = int(value)
        limits.set(values["getPerSecond"], values["postPerSecond"])
    sim_of(request).state.changed(RATE_LIMITS_STATE, limits.dumps)
    return JSONResponse(limits.describe())


# -- Bird's messages across workspaces, with their status timeline (the web UI's inbox) --------------------------

def _view(message: dict[str, Any], workspace_id: str, history: list[dict[str, Any]]) -> dict[str, Any]:
    message["workspaceId"] = workspace_id
    if not history:  # written before the timeline existed (or by another path): at least the current status
        history = [{"status": message.get("status"), "at": message.get("lastStatusAt") or message.get("createdAt"),
                    "event": ""}]
    message["statusHistory"] = history
    return message


def _limit(raw: str | None) -> int:
    try:
        value = int(raw) if raw is not None else 200
    except ValueError:
        raise ControlError('"limit" must be an integer from 1 to 2000', details={"limit": ["invalid"]}) from None
    if not 1 <= value <= 2000:
        raise ControlError('"limit" must be an integer from 1 to 2000', details={"limit": ["out of range"]})
    return value


MESSAGE_FILTERS = (
    Param("workspace", "a workspace id", "5b4b2a1e-0000-4000-8000-00000000a001"),
    Param("channel", "a channel id", "7c0f4a8e-0000-4000-8000-00000000c001"),
    Param("direction", "incoming | outgoing", "outgoing"), Param("status", "a message status", "delivered"),
    Param("phonenumber", "the sender or the recipient", "+15551230000"),
    Param("limit", "at most this many, newest first (200)", "50"),
)


async def messages(request: Request) -> Response:
    bird = bird_of(request)
    filters = {column: query(request, name) for name, column in (
        ("workspace", "workspace_id"), ("channel", "channel_id"), ("direction", "direction"), ("status", "status"))}
    found = await bird.messages.everywhere({k: v for k, v in filters.items() if v is not None},
                                           query(request, "phonenumber"), _limit(query(request, "limit")))
    history = await bird.timeline.of([(seq, message["id"]) for message, _, seq in found])
    return JSONResponse({"results": [_view(m, ws, history[m["id"]]) for m, ws, _ in found],
                         "clock": sim_of(request).clock.describe()})


async def message(request: Request) -> Response:
    """The message, its status timeline and the webhook deliveries naming it."""
    bird = bird_of(request)
    message_id = request.path_params["message_id"]
    found = await bird.messages.with_workspace(message_id)
    if found is None:
        raise ControlNotFound(f"message {message_id} not found")
    data, workspace_id, seq = found
    history = await bird.timeline.of([(seq, message_id)])
    view = _view(data, workspace_id, history[message_id])
    view["webhooks"] = await deliveries(request, 100, DeliveryFilter(), contains=message_id)
    return JSONResponse(view)


M = "/_sim/bird/messages/{message_id}"
routes: list[BaseRoute] = [
    route("GET", "/_sim/bird/rate-limits", get_rate_limits,
          "Bird's per-workspace rate limits as applied now (off unless configured)."),
    route("PUT", "/_sim/bird/rate-limits", put_rate_limits,
          "Turn on Bird's rate limits (GET/POST per workspace per simulated second; 429 with Retry-After beyond) or "
          "off with {enabled: false}.", example={"getPerSecond": 50, "postPerSecond": 500}),
    route("POST", "/_sim/bird/inbound", inbound,
          "A customer's phone writes to a channel: an inbound SMS (text) or MMS (media), with keyword opt-out/in.",
          example={"channelId": "7c0f4a8e-0000-4000-8000-00000000c001", "from": "+15551230000", "text": "STOP"}),
    route("GET", "/_sim/bird/messages", messages,
          "Bird messages of every workspace, newest first, each with its status timeline (statusHistory).",
          query=MESSAGE_FILTERS),
    route("GET", M, message, "One Bird message with its status timeline and the webhook deliveries naming it."),
    route("POST", M + "/click", click, "The recipient (or a link-preview bot: prefetched) opens a tracked link: a "
          "clicked interaction and its sms.interaction webhook.", example={"url": "https://example.com/x"}),
    route("GET", "/_sim/bird/opt-outs", opt_outs, "Numbers opted out (or back in) per channel, by keyword.",
          query=(Param("workspaceId", "only this workspace's", "5b4b2a1e-0000-4000-8000-00000000a001"),)),
    route("POST", M + "/status", force_status, "Force a Bird message status now (its webhook goes out); "
          "expired = delivery_failed with the validity failure.", example={"status": "delivered"}),
    route("GET", "/_sim/bird/outcomes", outcomes, "Receiver-suffix outcomes, available outcomes, timing profiles."),
]
