"""GET /_sim/outbox: webhook deliveries of every provider, newest first, with their attempts."""
from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.control.common import sim_of
from simulator.control.errors import ControlError
from simulator.control.routing import Param, query
from simulator.core.clock import iso_ms
from simulator.core.codec import loads_shown
from simulator.core.deliveries import DeliveryFilter, DeliveryRecord


def _limit(raw: str | None, default: int, maximum: int) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        raise ControlError(f'"limit" must be an integer from 1 to {maximum}', details={"limit": ["invalid"]}) from None
    if not 1 <= value <= maximum:
        raise ControlError(f'"limit" must be an integer from 1 to {maximum}', details={"limit": ["out of range"]})
    return value


def _shown_body(record: DeliveryRecord) -> Any:
    body = record.decoded_body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"_binary": len(record.body)}
    try:
        return loads_shown(text)
    except (ValueError, RecursionError):
        return text


def delivery_view(record: DeliveryRecord) -> dict[str, Any]:
    """A webhook delivery as the control plane shows it (body decoded, attempts included)."""
    return {
        "id": record.id, "provider": record.provider, "scope": record.scope, "event": record.event,
        "subscriptionId": record.subscription_id, "requestId": record.request_id, "url": record.url,
        "headers": record.headers, "body": _shown_body(record), "createdAt": iso_ms(record.created_at),
        "nextAttemptAt": iso_ms(record.next_attempt_at) if record.next_attempt_at is not None else None,
        "attemptCount": record.attempts, "status": record.status, "lastStatusCode": record.last_status,
        "lastError": record.last_error,
        "attempts": [{"attempt": a.attempt, "at": iso_ms(a.at_ms), "statusCode": a.status_code, "error": a.error,
                      "durationMs": round(a.duration_ms, 1), "responseBody": a.response_body}
                     for a in record.attempt_log],
    }


async def deliveries(request: Request, limit: int, where: DeliveryFilter, contains: str | None = None
                     ) -> list[dict[str, Any]]:
    """Newest first; ``contains`` filters on the decoded body (bodies may be gzip): a bounded window of recent rows."""
    sim = sim_of(request)
    scan = limit if not contains else max(limit * 20, 2000)
    records = await sim.outbox.deliveries.find(where, scan)
    if contains:
        records = [r for r in records if contains in r.decoded_body().decode("utf-8", "replace")][:limit]
    log = await sim.outbox.deliveries.attempts([r.id for r in records])
    return [delivery_view(dataclasses.replace(r, attempt_log=log.get(r.id, []))) for r in records]


OUTBOX_PARAMS = (Param("limit", "at most this many, newest first (1 to 1000; default 100)", "20"),
                 Param("provider", "a provider's name", "bird"),
                 Param("status", "pending | delivered | failed | cancelled", "delivered"),
                 Param("event", "webhook event name", "sms.outbound"),
                 Param("contains", "text the decoded body contains", "a message id"))


async def outbox(request: Request) -> Response:
    sim = sim_of(request)
    where = DeliveryFilter(provider=query(request, "provider"), status=query(request, "status"),
                           event=query(request, "event"))
    items = await deliveries(request, _limit(query(request, "limit"), 100, 1000), where, query(request, "contains"))
    return JSONResponse({"results": items, "stats": await sim.outbox.stats()})
