"""Fault rules (/_sim/faults) and webhook knobs (/_sim/webhooks): one vocabulary for both.

``POST /_sim/faults`` takes rules and/or ``{"webhooks": {...}}`` with the same knob names as ``/_sim/webhooks``;
``DELETE /_sim/faults`` removes every rule and restores every knob (a provider's extensions too).
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.control.common import control_body, sim_of
from simulator.control.errors import ControlError, ControlNotFound
from simulator.core.faults import InvalidRule
from simulator.core.knobs import InvalidKnobs
from simulator.core.simulation import Simulation


def _knobs(sim: Simulation) -> dict[str, Any]:
    return sim.outbox.knobs.to_dict()


def _knobs_and_schedule(sim: Simulation) -> dict[str, Any]:
    return {**sim.outbox.knobs.to_dict(), "retryScheduleSeconds": list(sim.outbox.retry_schedule_s)}


def _set_knobs(sim: Simulation, data: Any, prefix: str = "") -> None:
    try:
        sim.outbox.knobs.update(data)
    except InvalidKnobs as exc:
        raise ControlError(f"{prefix}{exc.message}", details={f"{prefix}{k}": v for k, v in exc.details.items()}
                           ) from None
    sim.knobs_changed()


async def list_faults(request: Request) -> Response:
    sim = sim_of(request)
    return JSONResponse({"rules": [r.to_dict() for r in sim.faults.rules], "webhooks": _knobs(sim)})


async def add_faults(request: Request) -> Response:
    """One rule, {"rules": [...]}, and/or {"webhooks": {...}}: everything is validated before anything applies."""
    sim = sim_of(request)
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
    for i, rule in enumerate(rules):  # validate all first: all or nothing
        try:
            sim.faults.check(rule)
        except InvalidRule as exc:
            raise ControlError(f"rules[{i}]: {exc.message}" if len(rules) > 1 else exc.message,
                               details=exc.details) from None
    if "webhooks" in body:
        _set_knobs(sim, body["webhooks"], "webhooks.")
    added = [sim.faults.add(rule).to_dict() for rule in rules]
    return JSONResponse({"rules": added, "webhooks": _knobs(sim)}, status_code=201)


async def clear_faults(request: Request) -> Response:
    sim = sim_of(request)
    cleared = sim.faults.clear()
    sim.outbox.knobs.restore(sim.initial_knobs)
    sim.knobs_changed()
    return JSONResponse({"cleared": cleared, "webhooks": _knobs(sim)})


async def delete_fault(request: Request) -> Response:
    sim = sim_of(request)
    rule_id = request.path_params["rule_id"]
    if not sim.faults.remove(rule_id):
        raise ControlNotFound(f"no fault rule {rule_id!r}; see GET /_sim/faults")
    return JSONResponse({"deleted": rule_id})


async def get_webhooks(request: Request) -> Response:
    return JSONResponse(_knobs_and_schedule(sim_of(request)))


async def put_webhooks(request: Request) -> Response:
    sim = sim_of(request)
    _set_knobs(sim, await control_body(request, required=True))
    return JSONResponse(_knobs_and_schedule(sim))


async def restore_webhooks(request: Request) -> Response:
    sim = sim_of(request)
    sim.outbox.knobs.restore(sim.initial_knobs)
    sim.knobs_changed()
    return JSONResponse(_knobs_and_schedule(sim))
