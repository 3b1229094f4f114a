"""GET and DELETE /_sim/coverage: which behaviours of each provider occurred since the counts were last reset, and
how to provoke the ones that did not."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from simulator.control.common import sim_of
from simulator.control.errors import ControlError
from simulator.control.routing import Param, declared_query, query
from simulator.core.coverage import format_table
from simulator.core.simulation import Simulation

# The scope keys the query string may name; each provider says which one its counts are kept by.
COVERAGE_SCOPES = ("workspace", "business")
PROVIDER_PARAM = Param("provider", "only this provider's behaviours (a name from /_sim/info's providers)", "bird")
GET_PARAMS = (
    PROVIDER_PARAM,
    *(Param(k, f"only what happened in this {k} (providers whose counts are kept by {k})", "an id")
      for k in COVERAGE_SCOPES),
    Param("format", "json (default) or text: the table the pytest plugin prints", "text"),
)
DELETE_PARAMS = (PROVIDER_PARAM,)


def _provider(sim: Simulation, request: Request) -> str | None:
    declared_query(request)  # a misspelt parameter is a 400, not a report of everything
    name = query(request, "provider")
    if name is not None and name not in sim.coverage.providers():
        raise ControlError(f'unknown provider {name!r}; this simulator has {", ".join(sim.coverage.providers())}',
                           details={"provider": ["unknown provider"]})
    return name


async def get_coverage(request: Request) -> Response:
    sim = sim_of(request)
    name = _provider(sim, request)
    scopes = {k: v for k in COVERAGE_SCOPES if (v := query(request, k)) is not None}
    fmt = query(request, "format") or "json"
    if len(scopes) > 1:
        raise ControlError(f"give one scope at most, not {' and '.join(scopes)}",
                           details={k: ["one scope at most"] for k in scopes})
    if fmt not in ("json", "text"):
        raise ControlError('"format" must be json or text', details={"format": ["json or text"]})
    names = [name] if name is not None else sim.coverage.providers()
    scope = None
    if scopes:
        (key, scope), = scopes.items()
        names = [n for n in names if sim.coverage.scope_key(n) == key]
        if not names:
            raise ControlError(f"no provider{' ' + repr(name) if name else ''} keeps its counts by {key}",
                               details={key: ["not a scope of this provider"]})
    report = await sim.coverage.report(names, scope)
    if fmt == "text":
        return PlainTextResponse(format_table(report))
    return JSONResponse(report)


async def reset_coverage(request: Request) -> Response:
    sim = sim_of(request)
    name = _provider(sim, request)
    await sim.coverage.reset(name)
    return JSONResponse({"reset": name or "all"})
