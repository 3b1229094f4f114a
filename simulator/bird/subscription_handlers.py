"""HTTP layer for Bird webhook subscriptions, under /organizations/{org}/workspaces/{ws}/… and /workspaces/{ws}/…"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from simulator.bird.config import Workspace
from simulator.bird.errors import InvalidPayload, NotFound
from simulator.bird.handlers import _limit, _workspace, respond, schema_body
from simulator.bird.provider import bird_of
from simulator.bird.subscriptions import EXECUTION_STATUSES, Subscriptions


def _subs(request: Request) -> Subscriptions:
    return bird_of(request).subscriptions


async def _scope(request: Request) -> Workspace:
    ws = await _workspace(request)  # authenticates
    org = request.path_params.get("organization_id")
    if org is not None and org != bird_of(request).world.organization_id:
        raise NotFound(f"organization {org} not found")
    return ws


async def create_subscription(request: Request) -> Response:
    ws = await _scope(request)
    body = await schema_body(request, "bird/webhook-subscription-create")
    return respond(await _subs(request).create(ws.id, body), 201)


async def list_subscriptions(request: Request) -> Response:
    ws = await _scope(request)
    return respond(await _subs(request).list(ws.id, _limit(request), request.query_params.get("pageToken")))


async def get_subscription(request: Request) -> Response:
    ws = await _scope(request)
    return respond(await _subs(request).get(ws.id, request.path_params["subscription_id"]))


async def patch_subscription(request: Request) -> Response:
    ws = await _scope(request)
    body = await schema_body(request, "bird/webhook-subscription-patch")
    return respond(await _subs(request).patch(ws.id, request.path_params["subscription_id"], body))


async def delete_subscription(request: Request) -> Response:
    ws = await _scope(request)
    await _subs(request).delete(ws.id, request.path_params["subscription_id"])
    return Response(status_code=204)


async def subscription_logs(request: Request) -> Response:
    ws = await _scope(request)
    status = request.query_params.get("executionStatus") or None
    if status is not None and status not in EXECUTION_STATUSES:
        raise InvalidPayload({"executionStatus": [f"must be one of {', '.join(EXECUTION_STATUSES)}"]},
                             message="Invalid query parameters")
    return respond(await _subs(request).logs(ws.id, request.path_params["subscription_id"], _limit(request),
                                             request.query_params.get("pageToken"), status))


async def subscription_log_details(request: Request) -> Response:
    ws = await _scope(request)
    request_id = request.query_params.get("requestId") or request.path_params.get("request_id")
    if not request_id:
        raise InvalidPayload({"requestId": ["is required (the messagebird-request-id of a delivery)"]},
                             message="Invalid query parameters")
    return respond(await _subs(request).log_details(ws.id, request.path_params["subscription_id"], request_id))
