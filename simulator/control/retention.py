"""/_sim/retention: how long each kind of accumulating data is kept, how much of it there is, and a sweep on demand."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.control.common import sim_of


async def get_retention(request: Request) -> Response:
    return JSONResponse(await sim_of(request).retention.describe())


async def sweep(request: Request) -> Response:
    sim = sim_of(request)
    removed = await sim.retention.sweep()
    return JSONResponse({"removed": removed, "clock": sim.clock.describe()})
