"""Core control-plane endpoints."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator import __version__
from simulator.control.common import control_body, number_field, sim_of
from simulator.control.errors import ControlError
from simulator.core import sqlite_tuning
from simulator.core.codec import is_digits


async def health(request: Request) -> Response:
    sim = sim_of(request)
    # store: write transactions, the group COMMITs that carried them, checkpoints — for benchmarks and tuning.
    return JSONResponse({"status": "ok", "version": __version__, "uptimeSeconds": round(sim.uptime_s(), 3),
                         "clock": sim.clock.describe(),
                         "store": {**sim.store.stats, "durability": sim.store.durability,
                                   "sqliteMemoryStatistics": not sqlite_tuning.memory_statistics_off}})


async def info(request: Request) -> Response:
    sim = sim_of(request)
    bird = sim.world.bird
    bc = sim.world.business_chat
    data = {
        "version": __version__,
        "baseUrl": sim.settings.base_url,
        "config": sim.world.source,
        "seed": sim.random.seed,
        "clock": sim.clock.describe(),
        "bird": {
            "organizationId": bird.organization_id,
            "accessKeys": [{"key": k.key, "name": k.name, "allowedPaths": list(k.allowed_paths),
                            "allowedMethods": list(k.allowed_methods)}
                           for k in bird.access_keys.values()],
            "workspaces": [
                {"id": ws.id, "name": ws.name, "channels": [
                    {"id": c.id, "name": c.name, "number": c.number, "country": c.country, "mms": c.mms,
                     "messageType": c.message_type, "connectorId": c.connector_id, "timing": c.timing}
                    for c in ws.channels.values()]}
                for ws in bird.workspaces.values()
            ],
            "outcomes": bird.outcomes,
        },
        "businessChat": {
            "mspId": bc.get("msp_id"),
            "secret": bc.get("secret"),
            "businesses": [{"id": b["id"], "name": b.get("name", "")} for b in bc.get("businesses", [])],
            "customers": [{"id": c["id"], "name": c.get("name", "")} for c in bc.get("customers", [])],
        } if bc else None,
    }
    return JSONResponse(data)


async def reset(request: Request) -> Response:
    sim = sim_of(request)
    body = await control_body(request)
    scope = {k: v for k, v in {**dict(request.query_params), **body}.items() if k in
             ("workspace", "channel", "business", "customer")}
    for key, value in scope.items():
        if not isinstance(value, str) or not value:
            raise ControlError(f'"{key}" must be a non-empty string')
    seed = body.get("seed", request.query_params.get("seed"))
    if seed is not None:
        if isinstance(seed, str) and is_digits(seed, signed=True):
            seed = int(seed)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise ControlError('"seed" must be a non-negative integer', details={"seed": ["invalid"]})
        if scope:
            raise ControlError('"seed" applies to a full reset only; drop the scope or the seed')
    if not scope:
        # A full reset returns to the configured seed unless the caller asks for another one (pytest seed fixture).
        from simulator.control.state import control_of

        sim.random.seed = control_of(sim).initial_seed if seed is None else seed
    result = await sim.reset(scope)
    if not scope:
        result["seed"] = sim.random.seed
    return JSONResponse(result)


async def get_clock(request: Request) -> Response:
    sim = sim_of(request)
    data = sim.clock.describe()
    data["pendingJobs"] = await sim.scheduler.pending()
    nxt = await sim.scheduler.next_due()
    data["nextDueMs"] = nxt
    return JSONResponse(data)


async def advance_clock(request: Request) -> Response:
    sim = sim_of(request)
    body = await control_body(request, required=True)
    seconds = number_field(body, "seconds")
    result = await sim.advance(seconds)
    data = sim.clock.describe()
    data["ran"] = result["ran"]
    return JSONResponse(data)


async def run_due(request: Request) -> Response:
    sim = sim_of(request)
    ran = await sim.scheduler.run_due()
    return JSONResponse({"ran": ran, **sim.clock.describe()})


async def not_found(request: Request) -> Response:
    raise ControlError(f"no control endpoint {request.method} {request.url.path}; see GET /_sim/info", status=404,
                       code="NotFound")


routes = [
    Route("/_sim/health", health, methods=["GET"]),
    Route("/_sim/info", info, methods=["GET"]),
    Route("/_sim/reset", reset, methods=["POST"]),
    Route("/_sim/clock", get_clock, methods=["GET"]),
    Route("/_sim/clock/advance", advance_clock, methods=["POST"]),
    Route("/_sim/clock/run-due", run_due, methods=["POST"]),
]
