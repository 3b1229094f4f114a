"""Bird HTTP layer: authenticate, parse, validate, call the backend, serialise. Nothing else."""
from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulator.bird import contacts as contacts_backend
from simulator.bird import views
from simulator.bird.auth import authenticate
from simulator.bird.config import PLATFORM_ID, Channel, Workspace
from simulator.bird.errors import BirdError, InvalidPayload, NotFound
from simulator.bird.lifecycle import ALL_STATUSES
from simulator.bird.messages import ListQuery
from simulator.bird.provider import bird_of
from simulator.bird.validation import send_issues
from simulator.core.clock import parse_rfc3339
from simulator.core.codec import FastJSONResponse
from simulator.core.errors import parse_json, read_body
from simulator.core.simulation import Simulation

_PLATFORM = re.compile(r"[A-Za-z0-9-]+")
DAY_MS = 86_400_000


def _sim(request: Request) -> Simulation:
    sim: Simulation = request.app.state.sim
    return sim


async def _workspace(request: Request) -> Workspace:
    bird = bird_of(request)
    authenticate(request, bird.world)
    ws_id = request.path_params["workspace_id"]
    ws = bird.world.workspaces.get(ws_id)
    if ws is None:
        raise NotFound(f"workspace {ws_id} not found")
    await bird.rate_limits.check(ws_id, request.method)
    return ws


async def _channel(request: Request) -> tuple[Workspace, Channel]:
    ws = await _workspace(request)
    ch_id = request.path_params["channel_id"]
    channel = ws.channels.get(ch_id)
    if channel is None:
        raise NotFound(f"channel {ch_id} not found")
    return ws, channel


async def json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise BirdError(f"Content-Type must be application/json, got {content_type}", status=415,
                        code="UnsupportedMediaType")
    raw = await read_body(request, _sim(request).settings.max_body_bytes)
    return parse_json(raw)


async def schema_body(request: Request, schema: str, empty_as: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body as a JSON object valid against ``schemas/<schema>.json``; 422 with Bird's details otherwise.
    ``empty_as``: what an empty body stands for (else it is a 400, as malformed JSON is)."""
    payload = empty_as if empty_as is not None and await _is_empty(request) else await json_body(request)
    if not isinstance(payload, dict):
        raise InvalidPayload.one(".", "the request body must be a JSON object")
    issues = _sim(request).schemas.issues(schema, payload)
    if issues:
        raise InvalidPayload.from_issues(issues)
    return payload


async def _is_empty(request: Request) -> bool:
    return not (await read_body(request, _sim(request).settings.max_body_bytes)).strip()


def respond(data: Any, status: int = 200) -> Response:
    return FastJSONResponse(data, status_code=status)


# -- messages ---------------------------------------------------------------------------------------------------

async def send_message(request: Request) -> Response:
    _, channel = await _channel(request)
    payload = await json_body(request)
    sim, sender = _sim(request), bird_of(request).sender
    problems = (send_issues(sim.schemas, channel, payload, sim.clock.now_ms(), sim.outbox.url_rule.problem)
                or await sender.store_issues(channel, payload))
    if problems:
        raise InvalidPayload(problems)
    if channel.status != "active":
        raise BirdError(f"channel {channel.id} is {channel.status} and cannot send", status=409, code="Conflict")
    message = await sender.send(channel, payload)
    return respond(message, 202)


async def send_batch(request: Request) -> Response:
    _, channel = await _channel(request)
    payload = await schema_body(request, "bird/batch-messages")
    sim, sender = _sim(request), bird_of(request).sender
    late = {id(item): await sender.store_issues(channel, item) for item in payload["messageRequests"]}
    result = await sender.send_batch(
        channel, payload["messageRequests"],
        lambda item: send_issues(sim.schemas, channel, item, sim.clock.now_ms(), sim.outbox.url_rule.problem)
        or late[id(item)])
    return respond(result, 202)


def _list_query(request: Request, workspace_id: str, channel_id: str | None) -> ListQuery:
    params = request.query_params
    problems: dict[str, list[str]] = {}
    limit = 10
    if "limit" in params:
        try:
            limit = int(params["limit"])
            if not 1 <= limit <= bird_of(request).world.max_list_limit:
                raise ValueError
        except ValueError:
            problems["limit"] = [f"must be an integer from 1 to {bird_of(request).world.max_list_limit}"]
    statuses = sorted(_values(request, "status"))
    bad = [s for s in statuses if s not in ALL_STATUSES]
    if bad:
        problems["status"] = [(f"unknown status {', '.join(bad)}; expected a comma list of"
                               f" {', '.join(sorted(ALL_STATUSES))}")]
    direction = params.get("direction")
    if direction is not None and direction not in ("incoming", "outgoing"):
        problems["direction"] = ['must be "incoming" or "outgoing"']
    times: dict[str, int | None] = {"startAt": None, "endAt": None}
    for name, aliases in (("startAt", ("startAt", "startDate", "from")), ("endAt", ("endAt", "endDate", "to"))):
        value = next((params[a] for a in aliases if a in params), None)
        if value is not None:
            try:
                times[name] = parse_rfc3339(value)
            except ValueError:
                problems[name] = ["must be an RFC 3339 date-time, e.g. 2025-05-20T10:00:00Z"]
    window_days = bird_of(request).world.max_list_window_days
    if (window_days is not None and times["startAt"] is not None and times["endAt"] is not None
            and times["endAt"] - times["startAt"] > window_days * DAY_MS):
        problems["endAt"] = [f"must be at most {window_days} days after startAt"]
    reverse = params.get("reverse", "false").lower()
    order = params.get("order", "").lower()
    if reverse not in ("true", "false", "1", "0"):
        problems["reverse"] = ["must be true or false"]
    if order and order not in ("asc", "desc", "ascending", "descending"):
        problems["order"] = ['must be "asc" or "desc"']
    if problems:
        raise InvalidPayload(problems, message="Invalid query parameters")
    platform = params.get("platform")
    if platform and platform != PLATFORM_ID:
        # No other platform exists in the simulator: an honest empty result.
        statuses = ["__none__"]
    return ListQuery(
        workspace_id=workspace_id,
        channel_id=channel_id or params.get("channelId") or None,
        limit=limit,
        page_token=params.get("pageToken") or None,
        reverse=reverse in ("true", "1") or order in ("asc", "ascending"),
        direction=direction,
        statuses=statuses,
        start_ms=times["startAt"],
        end_ms=times["endAt"],
        sender=params.get("senderIdentifier") or params.get("sender") or None,
        recipient=params.get("recipientIdentifier") or params.get("receiverIdentifier") or params.get("recipient")
        or None,
        phonenumber=params.get("phonenumber") or None,
        tag=params.get("tag") or None,
        batch_id=params.get("batchId") or None,
        contact_id=params.get("contactId") or None,
        reference=params.get("reference"),
    )


async def list_channel_messages(request: Request) -> Response:
    ws, channel = await _channel(request)
    return respond(await bird_of(request).messages.list(_list_query(request, ws.id, channel.id)))


async def list_workspace_messages(request: Request) -> Response:
    ws = await _workspace(request)
    return respond(await bird_of(request).messages.list(_list_query(request, ws.id, None)))


async def get_message(request: Request) -> Response:
    ws, channel = await _channel(request)
    return respond(await bird_of(request).messages.get(ws.id, channel.id, request.path_params["message_id"]))


async def get_workspace_message(request: Request) -> Response:
    ws = await _workspace(request)
    return respond(await bird_of(request).messages.get(ws.id, None, request.path_params["message_id"]))


async def list_interactions(request: Request) -> Response:
    ws, channel = await _channel(request)
    return respond(await bird_of(request).messages.interactions(ws.id, channel.id, request.path_params["message_id"]))


# -- world views ------------------------------------------------------------------------------------------------

def _limit(request: Request, default: int = 10, most: int = 100) -> int:
    try:
        return max(1, min(most, int(request.query_params.get("limit", default))))
    except ValueError:
        raise InvalidPayload.one("limit", f"must be an integer from 1 to {most}") from None


def _values(request: Request, name: str) -> set[str]:
    """A filter given once, repeated (?status=a&status=b) or comma-separated."""
    return {v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()}


async def list_channels(request: Request) -> Response:
    ws = await _workspace(request)
    items = [views.channel_view(c) for c in ws.channels.values()]
    platforms = _values(request, "platform")
    bad = next((p for p in platforms if not _PLATFORM.fullmatch(p)), None)
    if bad is not None:
        raise InvalidPayload.one("platform", f"must match ^[A-Za-z0-9-]+$, got {bad!r}")
    if platforms:
        items = [c for c in items if c["platformId"] in platforms]
    statuses = _values(request, "status")
    if statuses:
        items = [c for c in items if c["status"] in statuses]
    wanted = _values(request, "channelIds") | _values(request, "channelId")
    if wanted:
        items = [c for c in items if c["id"] in wanted]
    if request.query_params.get("reverse", "false").lower() == "true":
        items.reverse()
    # Bird allows up to 1,000 channels per page here (100 on the message lists).
    return respond(views.page(items, _limit(request, most=1000), request.query_params.get("pageToken")))


async def get_channel(request: Request) -> Response:
    _, channel = await _channel(request)
    return respond(views.channel_view(channel))


async def list_connectors(request: Request) -> Response:
    ws = await _workspace(request)
    connectors = bird_of(request).connectors
    items = [views.connector_view(c, connectors.record_of(c.id)) for c in ws.channels.values()]
    return respond(views.page(items, _limit(request), request.query_params.get("pageToken")))


async def get_connector(request: Request) -> Response:
    ws = await _workspace(request)
    connector_id = request.path_params["connector_id"]
    channel = next((c for c in ws.channels.values() if c.connector_id == connector_id), None)
    if channel is None:
        raise NotFound(f"connector {connector_id} not found")
    return respond(views.connector_view(channel, bird_of(request).connectors.record_of(channel.id)))


async def install_connector(request: Request) -> Response:
    ws = await _workspace(request)
    payload = await schema_body(request, "bird/create-connector")
    record = await bird_of(request).connectors.install(ws, payload)
    return respond(views.connector_view(ws.channels[record["channelId"]], record), 201)


def _organization(request: Request) -> None:
    authenticate(request, bird_of(request).world)
    org = request.path_params["organization_id"]
    if org != bird_of(request).world.organization_id:
        raise NotFound(f"organization {org} not found")


async def list_workspaces(request: Request) -> Response:
    _organization(request)
    world = bird_of(request).world
    items = [views.workspace_view(world, ws) for ws in world.workspaces.values()]
    return respond(views.page(items, _limit(request), request.query_params.get("pageToken")))


async def get_workspace(request: Request) -> Response:
    _organization(request)
    world = bird_of(request).world
    ws = world.workspaces.get(request.path_params["workspace_id"])
    if ws is None:
        raise NotFound(f"workspace {request.path_params['workspace_id']} not found")
    return respond(views.workspace_view(world, ws))


async def get_workspace_plain(request: Request) -> Response:
    """GET /workspaces/{id} (no organization prefix): practitioners meet it (a 403 for keys without its policy)."""
    ws = await _workspace(request)
    return respond(views.workspace_view(bird_of(request).world, ws))


async def available_webhooks(request: Request) -> Response:
    await _workspace(request)
    events = [{"service": "channels", "event": e, "description": d} for e, d in (
        ("sms.outbound", "status updates of outgoing SMS"), ("sms.inbound", "incoming SMS"),
        ("sms.interaction", "clicks, opt-outs and opt-ins on SMS"))]
    return respond({"results": events, "nextPageToken": ""})


async def list_projects(request: Request) -> Response:
    await _workspace(request)
    return respond({"results": [], "nextPageToken": ""})


# -- contacts ---------------------------------------------------------------------------------------------------

async def list_contacts(request: Request) -> Response:
    ws = await _workspace(request)
    sim = _sim(request)
    limit = _limit(request)
    params: list[Any] = [ws.id]
    sql = "SELECT data, seq FROM bird_contacts WHERE workspace_id=?"
    token = request.query_params.get("pageToken")
    if token:
        sql += " AND seq > ?"
        params.append(views.int_token(token))
    rows = await sim.store.fetch_all(sql + " ORDER BY seq LIMIT ?", [*params, limit + 1])
    page = rows[:limit]
    return respond({"results": [json.loads(r[0]) for r in page],
                    "nextPageToken": str(page[-1][1]) if len(rows) > limit else ""})


async def get_contact(request: Request) -> Response:
    ws = await _workspace(request)
    contact = await contacts_backend.get(_sim(request).store, ws.id, request.path_params["contact_id"])
    if contact is None:
        raise NotFound(f"contact {request.path_params['contact_id']} not found")
    return respond(contact)


async def get_channel_contact(request: Request) -> Response:
    """Channel details for a contact (Bird documents it for WhatsApp's service window)."""
    ws, channel = await _channel(request)
    sim = _sim(request)
    contact_id = request.path_params["contact_id"]
    if await contacts_backend.get(sim.store, ws.id, contact_id) is None:
        raise NotFound(f"contact {contact_id} not found")
    identifier = request.query_params.get("contactIdentifierValue", "")
    return respond(await contacts_backend.service_window(sim.store, channel.id, contact_id, identifier,
                                                         sim.clock.now_ms()))


async def create_contact(request: Request) -> Response:
    ws = await _workspace(request)
    sim = _sim(request)
    payload = await schema_body(request, "bird/create-contact")
    ident = payload["identifiers"][0]
    for i, extra in enumerate(payload["identifiers"]):
        if extra["key"] == "phonenumber" and not extra["value"].startswith("+"):
            raise InvalidPayload.one(f".identifiers[{i}].value", "phone numbers must be in E.164 format (+…)")
    now = sim.clock.now_ms()
    async with sim.store.transaction() as tx:
        existing = await tx.fetch_one(
            "SELECT data FROM bird_contacts WHERE workspace_id=? AND identifier_key=? AND identifier_value=?",
            (ws.id, ident["key"], ident["value"]))
        if existing is not None:
            raise BirdError(f"a contact with {ident['key']} {ident['value']} already exists", status=409,
                            code="Conflict")
        contact = contacts_backend.new_contact(sim.random, now, ident["key"], ident["value"],
                                               payload.get("displayName", ""), payload.get("attributes"),
                                               payload["identifiers"][1:])
        await contacts_backend.insert(tx, ws.id, contact, ident["key"], ident["value"], now)
    return respond(contact, 201)
