"""The web inbox at /_sim/ui/: static HTML + vanilla JS + CSS shipped in the package (no build step, no CDN).

The page is only a client of the control plane (/_sim/..., its live events at /_sim/events) and of the providers'
public APIs; this module serves the static files and redirects GET / to the page. It knows no provider's tables.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from simulator.control.routing import route

UI_PATH = "/_sim/ui"


class _Static(StaticFiles):
    """Static files that are never cached: the page must match the simulator that serves it."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


async def _to_ui(request: Request) -> Response:
    return RedirectResponse(UI_PATH + "/", status_code=307)


def routes() -> list[BaseRoute]:
    return [
        Route("/", _to_ui, methods=["GET", "HEAD"]),
        route("GET", UI_PATH, _to_ui, "The web inbox (redirects to /_sim/ui/)."),
        Mount(UI_PATH, app=_Static(packages=[("simulator", "ui/static")], html=True), name="ui"),
    ]
