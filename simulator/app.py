"""The app factory: routes are data, resources open in the lifespan, state lives on app.state.sim."""
from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from simulator import __version__
from simulator.core.errors import BodyTooLarge, MalformedBody, SimulatorError
from simulator.core.schemas import SchemaStore
from simulator.core.simulation import Simulation
from simulator.core.store import storage_failure
from simulator.settings import Settings

log = logging.getLogger("simulator")

# (path prefix, renderer) — the first match picks the error shape for errors raised outside a provider's handlers.
ErrorShape = Callable[[int, str, str], Response]


def _control_shape(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(settings: Settings | None = None, *, schemas: SchemaStore | None = None) -> Starlette:
    """Build the simulator app. Nothing is opened until the lifespan starts."""
    from simulator import bird, control

    settings = settings or Settings.from_env()
    sim = Simulation.build(settings, schemas)
    routes: list[BaseRoute] = []
    shapes: list[tuple[str, ErrorShape]] = [("/_sim", _control_shape)]
    routes += control.install(sim)
    for provider in _optional_providers():
        provider_routes, prefix, shape = provider.install(sim)
        routes += provider_routes
        shapes.append((prefix, shape))
    bird_routes, _, bird_shape = bird.install(sim)
    routes += bird_routes  # Bird's paths start at the root, so its shape is the fallback.
    from simulator import ui

    routes += ui.install(sim)  # web inbox at /_sim/ui/ + live events; after the providers it listens to

    def shape_for(path: str) -> ErrorShape:
        for prefix, shape in shapes:
            if path == prefix or path.startswith(prefix + "/"):
                return shape
        return bird_shape

    async def on_simulator_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SimulatorError)
        return exc.render()

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadRequest")
        if exc.status_code == 404:
            message = f"The requested resource does not exist: no route for {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        response = shape_for(request.url.path)(exc.status_code, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def on_too_large(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BodyTooLarge)
        return shape_for(request.url.path)(413, "PayloadTooLarge", str(exc))

    async def on_malformed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MalformedBody)
        return shape_for(request.url.path)(400, "BadRequest", exc.message)

    def unexpected(method: str, path: str, exc: Exception) -> Response:
        """The answer to an exception no handler expected (never a bare 500 page, never a dropped connection)."""
        if storage_failure(exc):
            # The db cannot take writes now (disk full, I/O error): the request was rolled back. Not a bug, and a
            # retry can succeed once that is fixed, so 503 with Retry-After, as a provider would answer.
            log.error("storage unavailable on %s %s: %s", method, path, exc)
            response = shape_for(path)(
                503, "ServiceUnavailable", f"the simulator's database cannot be written ({exc}; db: {settings.db}):"
                " what failed was rolled back; retry once the cause is fixed")
            response.headers["retry-after"] = "1"
            return response
        log.error("unhandled error on %s %s", method, path, exc_info=exc)  # with the traceback, to get it fixed
        return shape_for(path)(500, "InternalError", f"simulator bug: {type(exc).__name__}: {exc}")

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return unexpected(request.method, request.url.path, exc)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await sim.open()
        except Exception as exc:
            app.state.startup_error = exc  # uvicorn only logs it; SimulatorServer reports it to its caller
            raise
        if settings.tune_gc:
            gc.freeze()  # no collect first: it costs start-up time, and start-up leaves little garbage
            gc.set_threshold(20_000, 50, 100)
        try:
            yield
        finally:
            await sim.close()

    from starlette.middleware import Middleware

    from simulator.control import access
    from simulator.control.middleware import ControlMiddleware, install_route_cache

    app = Starlette(
        routes=routes,
        # access first: a request it refuses is never journaled (its credentials included)
        middleware=[*access.middleware(settings),
                    Middleware(ControlMiddleware, shape_for=shape_for, unexpected=unexpected)],
        exception_handlers={
            SimulatorError: on_simulator_error,
            HTTPException: on_http_error,
            BodyTooLarge: on_too_large,
            MalformedBody: on_malformed,
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
    install_route_cache(app)
    app.state.sim = sim
    app.state.version = __version__
    return app


def _optional_providers() -> list[Any]:
    """Providers beyond Bird, each a package with ``install(sim) -> (routes, prefix, error_shape)``."""
    import importlib
    import importlib.util

    found = []
    for name in ("simulator.business_chat",):
        if importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name))
    return found
