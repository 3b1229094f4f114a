"""Bird's part of the control plane (/_sim/bird/...): force outcomes, look at messages without an access key."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import base64
import binascii

from simulator.bird import interactions, lifecycle, rate_limits
from simulator.bird.errors import BirdError, NotFound
from simulator.control.common import control_body, number_field, sim_of
from simulator.control.errors import ControlError, ControlNotFound

FORCEABLE = {
    "processing": None, "sent": None, "delivered": None,
    "delivery_failed": "delivery_failed", "sending_failed": "sending_failed", "rejected": "rejected",
    "skipped": "skipped", "expired": "expired", "deleted": None,
}


async def force_status(request: Request) -> Response:
    """POST /_sim/bird/messages/{id}/status {"status": "delivery_failed"} → applied now, webhook emitted."""
    sim = sim_of(request)
    body = await control_body(request, required=True)
    status = body.get("status")
    if not isinstance(status, str) or status not in FORCEABLE:
        raise ControlError(f'"status" must be one of {", ".join(sorted(FORCEABLE))}', details={"status": ["invalid"]})
    real_status = "delivery_failed" if status == "expired" else status
    try:
        message = await sim.providers["bird"].messages.force(request.path_params["message_id"], real_status,
                                                             FORCEABLE[status])
    except NotFound as exc:
        raise ControlNotFound(exc.message) from None
    return JSONResponse(message)


async def outcomes(request: Request) -> Response:
    sim = sim_of(request)
    return JSONResponse({"outcomes": sim.world.bird.outcomes, "available": list(lifecycle.OUTCOMES),
                         "timingProfiles": sim.world.bird.timing_profiles})


async def inbound(request: Request) -> Response:
    """POST /_sim/bird/inbound {channelId, from, text?, media?: [{contentType, base64 | mediaId, filename?}]}."""
    sim = sim_of(request)
    body = await control_body(request, required=True)
    issues = sim.schemas.issues("bird/inbound", body)
    if issues:
        details: dict[str, list[str]] = {}
        for issue in issues:
            details.setdefault(issue.bird_path().lstrip(".") or ".", []).append(issue.message)
        raise ControlError("invalid inbound message: " + "; ".join(f"{k}: {v[0]}" for k, v in details.items()),
                           details=details)
    channel = sim.world.bird.channel(body["channelId"])
    if channel is None:
        raise ControlNotFound(f"channel {body['channelId']} not found")
    text = body.get("text", "")
    media_in = body.get("media") or []
    if not text and not media_in:
        raise ControlError('an inbound message needs "text" or "media"', details={"text": ["required"]})
    if media_in and not channel.mms:
        raise ControlError(f"channel {channel.id} ({channel.number}) is SMS only and cannot receive MMS",
                           details={"media": ["channel is not MMS capable"]})
    provider = sim.providers["bird"]
    media: list[tuple[str, bytes, str]] = []
    for i, item in enumerate(media_in):
        if "base64" in item:
            try:
                data = base64.b64decode(item["base64"], validate=True)
            except (binascii.Error, ValueError):
                raise ControlError(f"media[{i}].base64 is not valid base64", details={f"media[{i}].base64":
                                                                                       ["invalid base64"]}) from None
        else:
            found = await provider.media.read_uploaded(channel.workspace_id, item["mediaId"])
            if found is None:
                raise ControlNotFound(f"media {item['mediaId']} was not uploaded to workspace {channel.workspace_id}")
            data = found[0]
        media.append((item["contentType"], data, item.get("filename", "")))
    message = await provider.inbound.receive(channel, body["from"], text, media)
    return JSONResponse(message, status_code=201)


async def click(request: Request) -> Response:
    """POST /_sim/bird/messages/{id}/click {url, prefetched?} → a `clicked` interaction + sms.interaction."""
    sim = sim_of(request)
    body = await control_body(request, required=True)
    url = body.get("url")
    if not isinstance(url, str) or not url:
        raise ControlError('"url" (the link that was clicked) is required', details={"url": ["required"]})
    prefetched = body.get("prefetched", False)
    if not isinstance(prefetched, bool):
        raise ControlError('"prefetched" must be a boolean', details={"prefetched": ["must be a boolean"]})
    try:
        interaction = await interactions.click(sim, request.path_params["message_id"], url, prefetched=prefetched)
    except NotFound as exc:
        raise ControlNotFound(exc.message) from None
    except BirdError as exc:
        raise ControlError(exc.message, status=exc.status, code=exc.code) from None
    return JSONResponse(interaction, status_code=201)


def _knobs(request: Request) -> dict[str, object]:
    sim = sim_of(request)
    data = sim.outbox.knobs.to_dict()
    data["dlrDelaySeconds"] = sim.providers["bird"].delivery.knobs.dlr_delay_s
    data["retryScheduleSeconds"] = list(sim.outbox.retry_schedule_s)
    return data


async def get_knobs(request: Request) -> Response:
    return JSONResponse(_knobs(request))


async def put_knobs(request: Request) -> Response:
    """PUT /_sim/bird/webhooks/knobs {duplicateProbability?, reorder?, reorderWindowSeconds?, extraDelaySeconds?,
    dlrDelaySeconds?}.

    duplicate/reorder/extra delay are the shared outbox knobs; dlrDelaySeconds holds back Bird DLR webhooks."""
    sim = sim_of(request)
    body = await control_body(request, required=True)
    allowed = {"duplicateProbability", "reorder", "reorderWindowSeconds", "extraDelaySeconds", "dlrDelaySeconds"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ControlError(f"unknown knob(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}",
                           details={k: ["unknown"] for k in unknown})
    knobs = sim.outbox.knobs
    if "reorder" in body and not isinstance(body["reorder"], bool):
        raise ControlError('"reorder" must be a boolean', details={"reorder": ["must be a boolean"]})
    values = {name: number_field(body, name, maximum=maximum) for name, maximum in (
        ("duplicateProbability", 1), ("extraDelaySeconds", 86400 * 7), ("dlrDelaySeconds", 86400 * 7),
        ("reorderWindowSeconds", 86400))
        if name in body}
    if "duplicateProbability" in values:
        knobs.duplicate_probability = values["duplicateProbability"]
    if "extraDelaySeconds" in values:
        knobs.extra_delay_s = values["extraDelaySeconds"]
    if "reorderWindowSeconds" in values:
        knobs.reorder_window_s = values["reorderWindowSeconds"]
    if "dlrDelaySeconds" in values:
        sim.providers["bird"].delivery.knobs.dlr_delay_s = values["dlrDelaySeconds"]
    if "reorder" in body:
        knobs.reorder = body["reorder"]
    return JSONResponse(_knobs(request))


async def opt_outs(request: Request) -> Response:
    sim = sim_of(request)
    return JSONResponse({"results": await sim.providers["bird"].inbound.opt_outs(
        request.query_params.get("workspaceId"))})


async def get_rate_limits(request: Request) -> Response:
    """GET /_sim/bird/rate-limits: Bird's per-workspace limits as the simulator applies them now."""
    return JSONResponse(sim_of(request).providers["bird"].rate_limits.describe())


async def put_rate_limits(request: Request) -> Response:
    """PUT /_sim/bird/rate-limits {"getPerSecond": 50, "postPerSecond": 500} (Bird's documented values when a
    field is left out; {"enabled": false} turns them off). Back to the world config on a full reset."""
    limits = sim_of(request).providers["bird"].rate_limits
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
    return JSONResponse(limits.describe())


routes = [
    Route("/_sim/bird/rate-limits", get_rate_limits, methods=["GET"]),
    Route("/_sim/bird/rate-limits", put_rate_limits, methods=["PUT"]),
    Route("/_sim/bird/inbound", inbound, methods=["POST"]),
    Route("/_sim/bird/messages/{message_id}/click", click, methods=["POST"]),
    Route("/_sim/bird/webhooks/knobs", get_knobs, methods=["GET"]),
    Route("/_sim/bird/webhooks/knobs", put_knobs, methods=["PUT"]),
    Route("/_sim/bird/opt-outs", opt_outs, methods=["GET"]),
    Route("/_sim/bird/messages/{message_id}/status", force_status, methods=["POST"]),
    Route("/_sim/bird/outcomes", outcomes, methods=["GET"]),
]
