"""The core of the control plane: health, the seeded world, reset and the clock."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator import __version__
from simulator.control.common import control_body, number_field, sim_of
from simulator.control.errors import ControlError
from simulator.control.routing import query
from simulator.core import sqlite_tuning
from simulator.core.codec import is_digits
from simulator.core.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE


async def health(request: Request) -> Response:
    sim = sim_of(request)
    # store: write transactions, the group COMMITs that carried them, checkpoints — for benchmarks and tuning.
    return JSONResponse({"status": "ok", "version": __version__, "uptimeSeconds": round(sim.uptime_s(), 3),
                         "clock": sim.clock.describe(),
                         "store": {**sim.store.describe(),
                                   "sqliteMemoryStatistics": not sqlite_tuning.memory_statistics_off}})


async def metrics(request: Request) -> Response:
    sim = sim_of(request)
    return Response(await sim.metrics.render(sim), media_type=METRICS_CONTENT_TYPE)


async def info(request: Request) -> Response:
    sim = sim_of(request)
    data = {"version": __version__, "baseUrl": sim.settings.base_url, "config": sim.world.source,
            "seed": sim.random.seed, "clock": sim.clock.describe()}
    if sim.fleet.active:
        data["fleet"] = {"worker": sim.fleet.worker_id, "stream": sim.fleet.stream,
                         "members": await sim.fleet.members()}
    for provider in sim.providers:
        data.update(provider.describe())
    return JSONResponse(data)


# The scopes the query string may name (declared on the route); the body may name any installed provider's.
RESET_SCOPES = ("workspace", "channel", "business", "customer")


async def reset(request: Request) -> Response:
    sim = sim_of(request)
    body = await control_body(request)
    keys = sorted({key for provider in sim.providers for key in provider.scope_keys})
    unknown = sorted(set(body) - {*keys, "seed"})
    if unknown:
        raise ControlError(f"unknown field(s) {', '.join(unknown)}: a reset takes one scope ({', '.join(keys)}) or a"
                           " seed", details={k: ["unknown field"] for k in unknown})
    given = {**{k: query(request, k) for k in (*RESET_SCOPES, "seed")}, **body}
    scope = {k: v for k, v in given.items() if k in keys and v is not None}
    for key, value in scope.items():
        if not isinstance(value, str) or not value:
            raise ControlError(f'"{key}" must be a non-empty string')
    seed = given.get("seed")
    if seed is not None:
        if isinstance(seed, str) and is_digits(seed, signed=True):
            seed = int(seed)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise ControlError('"seed" must be a non-negative integer', details={"seed": ["invalid"]})
        if scope:
            raise ControlError('"seed" applies to a full reset only; drop the scope or the seed')
    return JSONResponse(await sim.reset(scope, seed=seed))


async def get_clock(request: Request) -> Response:
    sim = sim_of(request)
    data = sim.clock.describe()
    data["pendingJobs"] = await sim.scheduler.pending()
    data["nextDueMs"] = await sim.scheduler.next_due()
    return JSONResponse(data)


async def advance_clock(request: Request) -> Response:
    sim = sim_of(request)
    body = await control_body(request, required=True)
    result = await sim.advance(number_field(body, "seconds"))
    data = sim.clock.describe()
    data["ran"] = result["ran"]
    return JSONResponse(data)


async def run_due(request: Request) -> Response:
    sim = sim_of(request)
    ran = await sim.scheduler.run_due()
    return JSONResponse({"ran": ran, **sim.clock.describe()})
