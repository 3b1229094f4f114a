"""The journal's endpoints: read and filter it, wait for entries, clear it, export it as a scenario."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.control.common import control_body, sim_of
from simulator.control.errors import ControlError
from simulator.control.routing import Param, declared_query, query
from simulator.core.clock import parse_rfc3339
from simulator.core.codec import is_digits
from simulator.core.journal import FILTER_KEYS

FILTER_PARAMS = (
    Param("kind", "request | control | webhook", "request"), Param("provider", "a provider's name", "bird"),
    Param("operation", "operation name or route template", "send_message"), Param("method", "HTTP method", "POST"),
    Param("status", "a status (202) or a class (4xx)", "4xx"), Param("path", "path prefix", "/workspaces"),
    Param("since", "RFC 3339 time or epoch milliseconds", "2025-01-01T00:00:00Z"),
    Param("event", "webhook event", "sms.outbound"), Param("sinceSeq", "entries after this sequence number", "0"),
    Param("limit", "at most this many, newest (500)", "100"),
)


def _filters(source: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(k for k in source if k not in (*FILTER_KEYS, "limit", "count", "timeout"))
    if unknown:
        raise ControlError(f"unknown journal filter(s): {', '.join(unknown)}; allowed: {', '.join(FILTER_KEYS)}, limit")
    out: dict[str, Any] = {}
    for key in FILTER_KEYS:
        value = source.get(key)
        if value is None or value == "":
            continue
        if key == "since":
            if isinstance(value, int) and not isinstance(value, bool):
                out[key] = value
            elif isinstance(value, str) and is_digits(value):
                out[key] = int(value)
            else:
                try:
                    out[key] = parse_rfc3339(value)
                except ValueError:
                    raise ControlError('"since" must be an RFC 3339 time or epoch milliseconds',
                                       details={"since": ["invalid"]}) from None
        elif key == "sinceSeq":
            out[key] = _int(value, key, 0, 2**62)
        elif key == "status":
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ControlError('"status" must be a status code like 202 or a class like 4xx')
            out[key] = value
        else:
            if not isinstance(value, str):
                raise ControlError(f'"{key}" must be a string', details={key: ["must be a string"]})
            out[key] = value
    return out


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, str) and is_digits(value.strip(), signed=True):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ControlError(f'"{name}" must be an integer between {lo} and {hi}', details={name: ["invalid"]})
    return value


async def get_journal(request: Request) -> Response:
    sim = sim_of(request)
    params = declared_query(request)
    filters = _filters(params)
    limit = _int(params.get("limit", 500), "limit", 1, 100_000)
    entries = (await sim.journal.query(filters))[-limit:]
    await sim.journal.fill_webhooks(entries, sim.outbox.deliveries)
    return JSONResponse({"entries": entries, "count": len(entries), **await sim.journal.stats()})


async def clear_journal(request: Request) -> Response:
    return JSONResponse({"cleared": await sim_of(request).journal.clear()})


async def wait_journal(request: Request) -> Response:
    """POST /_sim/journal/wait {filters..., "count": 1, "timeout": 5} → the matching entries (or what is there)."""
    sim = sim_of(request)
    body = await control_body(request)
    filters = _filters(body)
    count = _int(body.get("count", 1), "count", 1, 100_000)
    timeout = body.get("timeout", 5)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= 120:
        raise ControlError('"timeout" must be a number of seconds between 0 and 120', details={"timeout": ["invalid"]})
    found = await sim.journal.wait(filters, count, float(timeout))
    await sim.journal.fill_webhooks(found, sim.outbox.deliveries)
    return JSONResponse({"matched": len(found) >= count, "count": len(found), "entries": found},
                        status_code=200 if len(found) >= count else 408)


async def export_scenario(request: Request) -> Response:
    """GET /_sim/journal/export-scenario → the journal as a replayable scenario skeleton (YAML)."""
    from simulator.replay.export import export_yaml

    sim = sim_of(request)
    entries = await sim.journal.all()
    await sim.journal.fill_webhooks(entries, sim.outbox.deliveries)
    name = query(request, "name") or "recorded session"
    text = export_yaml(entries, sim, name=name[:200])
    return Response(text, media_type="application/yaml")
