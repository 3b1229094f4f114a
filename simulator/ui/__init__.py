"""The web inbox at /_sim/ui/: static HTML + vanilla JS + CSS shipped in the package (no build step, no CDN).

The page is only a client of the control plane (/_sim/...) and of the providers' public APIs; this module
mounts the static files, redirects GET / to the page, and installs the live event bus it listens to.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from simulator.core.simulation import Simulation

UI_PATH = "/_sim/ui"


class _Static(StaticFiles):
    """Static files that are never cached: the page must match the simulator that serves it."""

    async def get_response(self, path: str, scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


async def _to_ui(request: Request) -> Response:
    return RedirectResponse(UI_PATH + "/", status_code=307)


def install(sim: Simulation) -> list[BaseRoute]:
    """Call after every provider is installed: the event bus subscribes to their hooks."""
    from simulator.control import events
    from simulator.business_chat import attachments

    events.install_bus(sim)
    return events.routes() + attachments.routes + [
        Route("/", _to_ui, methods=["GET", "HEAD"]),
        Route(UI_PATH, _to_ui, methods=["GET", "HEAD"]),
        Mount(UI_PATH, app=_Static(packages=[("simulator", "ui/static")], html=True), name="ui"),
    ]
