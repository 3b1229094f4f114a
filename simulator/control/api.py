"""Control endpoints for the journal (/_sim/journal), fault rules (/_sim/faults) and the control-plane docs."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from simulator.control.common import control_body, sim_of
from simulator.control.errors import ControlError, ControlNotFound
from simulator.control.journal import FILTER_KEYS
from simulator.control.state import control_of
from simulator.core.clock import parse_rfc3339
from simulator.core.codec import is_digits

KNOB_FIELDS = {"delaySeconds": "extra_delay_s", "duplicateProbability": "duplicate_probability", "reorder": "reorder"}


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
    """GET /_sim/journal?provider=&operation=&method=&status=&path=&since=&kind=&event=&limit=."""
    plane = control_of(sim_of(request))
    params = dict(request.query_params)
    filters = _filters(params)
    limit = _int(params.get("limit", 500), "limit", 1, 100_000)
    entries = plane.journal.query(filters)[-limit:]
    await plane.fill_webhooks(entries)
    return JSONResponse({"entries": entries, "count": len(entries), "size": plane.journal.entries.maxlen,
                         "dropped": plane.journal.dropped, "lastSeq": plane.journal.seq})


async def clear_journal(request: Request) -> Response:
    plane = control_of(sim_of(request))
    return JSONResponse({"cleared": plane.journal.clear()})


async def wait_journal(request: Request) -> Response:
    """POST /_sim/journal/wait {filters..., "count": 1, "timeout": 5} → the matching entries (or what is there)."""
    plane = control_of(sim_of(request))
    body = await control_body(request)
    filters = _filters(body)
    count = _int(body.get("count", 1), "count", 1, 100_000)
    timeout = body.get("timeout", 5)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= 120:
        raise ControlError('"timeout" must be a number of seconds between 0 and 120', details={"timeout": ["invalid"]})
    found = await plane.journal.wait(filters, count, float(timeout))
    await plane.fill_webhooks(found)
    return JSONResponse({"matched": len(found) >= count, "count": len(found), "entries": found},
                        status_code=200 if len(found) >= count else 408)


async def export_scenario(request: Request) -> Response:
    """GET /_sim/journal/export-scenario → the journal as a replayable scenario skeleton (YAML)."""
    from simulator.replay.export import export_yaml

    sim = sim_of(request)
    plane = control_of(sim)
    entries = plane.journal.all()
    await plane.fill_webhooks(entries)
    name = request.query_params.get("name", "recorded session")
    text = export_yaml(entries, sim, name=name[:200])
    return Response(text, media_type="application/yaml")


# -- faults ---------------------------------------------------------------------------------------------------

def _knobs(request: Request) -> dict[str, Any]:
    knobs = sim_of(request).outbox.knobs
    return {"delaySeconds": knobs.extra_delay_s, "duplicateProbability": knobs.duplicate_probability,
            "reorder": knobs.reorder}


def _set_knobs(request: Request, data: Any) -> None:
    if not isinstance(data, dict):
        raise ControlError('"webhooks" must be an object with delaySeconds, duplicateProbability, reorder')
    unknown = sorted(set(map(str, data)) - set(KNOB_FIELDS))
    if unknown:
        raise ControlError(f"unknown webhook fault field(s): {', '.join(unknown)}; allowed: {', '.join(KNOB_FIELDS)}",
                           details={f"webhooks.{k}": ["unknown field"] for k in unknown})
    checks: dict[str, Any] = {}
    for key, value in data.items():
        if key == "reorder":
            if not isinstance(value, bool):
                raise ControlError('"webhooks.reorder" must be true or false', details={"webhooks.reorder": ["invalid"]})
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (
                key == "duplicateProbability" and value > 1) or (key == "delaySeconds" and value > 86400):
            raise ControlError(f'"webhooks.{key}" is out of range', details={f"webhooks.{key}": ["out of range"]})
        checks[KNOB_FIELDS[key]] = value
    knobs = sim_of(request).outbox.knobs
    for attr, value in checks.items():
        setattr(knobs, attr, float(value) if attr != "reorder" else value)


async def list_faults(request: Request) -> Response:
    plane = control_of(sim_of(request))
    return JSONResponse({"rules": [r.to_dict() for r in plane.faults.rules], "webhooks": _knobs(request)})


async def add_faults(request: Request) -> Response:
    """POST /_sim/faults: one rule, {"rules": [...]}, and/or {"webhooks": {...}}. Validated before anything applies."""
    plane = control_of(sim_of(request))
    body = await control_body(request, required=True)
    if "rules" in body or "webhooks" in body:
        extra = sorted(set(body) - {"rules", "webhooks"})
        if extra:
            raise ControlError(f"unexpected field(s) next to rules/webhooks: {', '.join(extra)}")
        rules = body.get("rules", [])
        if not isinstance(rules, list):
            raise ControlError('"rules" must be a list of fault rules')
    else:
        rules = [body]
    from simulator.control.faults import parse_rule

    for i, rule in enumerate(rules):  # validate all first: all or nothing
        try:
            parse_rule(rule, "check")
        except ControlError as exc:
            raise ControlError(f"rules[{i}]: {exc.message}" if len(rules) > 1 else exc.message,
                               details=exc.details) from None
    if "webhooks" in body:
        _set_knobs(request, body["webhooks"])
    added = [plane.faults.add(rule).to_dict() for rule in rules]
    return JSONResponse({"rules": added, "webhooks": _knobs(request)}, status_code=201)


async def clear_faults(request: Request) -> Response:
    plane = control_of(sim_of(request))
    cleared = plane.faults.clear()
    knobs = sim_of(request).outbox.knobs
    for attr in ("extra_delay_s", "duplicate_probability", "reorder"):
        setattr(knobs, attr, getattr(plane.initial_knobs, attr))
    return JSONResponse({"cleared": cleared, "webhooks": _knobs(request)})


async def delete_fault(request: Request) -> Response:
    plane = control_of(sim_of(request))
    rule_id = request.path_params["rule_id"]
    if not plane.faults.remove(rule_id):
        raise ControlNotFound(f"no fault rule {rule_id!r}; see GET /_sim/faults")
    return JSONResponse({"deleted": rule_id})


# -- docs -----------------------------------------------------------------------------------------------------

async def openapi(request: Request) -> Response:
    from simulator.control.openapi import build_openapi

    return JSONResponse(build_openapi(request.app))


async def docs(request: Request) -> Response:
    from simulator.control.openapi import DOCS_HTML

    return HTMLResponse(DOCS_HTML)


routes = [
    Route("/_sim/journal", get_journal, methods=["GET"]),
    Route("/_sim/journal", clear_journal, methods=["DELETE"]),
    Route("/_sim/journal/wait", wait_journal, methods=["POST"]),
    Route("/_sim/journal/export-scenario", export_scenario, methods=["GET"]),
    Route("/_sim/faults", list_faults, methods=["GET"]),
    Route("/_sim/faults", add_faults, methods=["POST"]),
    Route("/_sim/faults", clear_faults, methods=["DELETE"]),
    Route("/_sim/faults/{rule_id}", delete_fault, methods=["DELETE"]),
    Route("/_sim/openapi.json", openapi, methods=["GET"]),
    Route("/_sim/docs", docs, methods=["GET"]),
]
