"""The app factory: routes are data, resources open in the lifespan, state lives on app.state.sim."""
from __future__ import annotations

import contextlib
import gc
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from simulator import __version__
from simulator.control import access
from simulator.control.middleware import EXCHANGE, ControlMiddleware, MatchedRouter, exchange_entry
from simulator.core.errors import BodyTooLarge, MalformedBody, SimulatorError
from simulator.core.retention import RetentionSettingError
from simulator.core.schemas import SchemaStore
from simulator.core.simulation import Simulation
from simulator.settings import Settings
from simulator.world import ConfigError

log = logging.getLogger("simulator")

ErrorShape = Callable[[int, str, str], Response]
# The providers a simulator serves: each module's ``create(sim)`` returns its Provider.
PROVIDER_MODULES = ("simulator.bird", "simulator.business_chat")


def _control_shape(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class SimulatorApp(Starlette):
    """Starlette with a router that takes the route the middleware already matched."""

    def __init__(self, routes: Sequence[BaseRoute], lifespan: Any, **kwargs: Any) -> None:
        super().__init__(routes=routes, lifespan=lifespan, **kwargs)
        self.router = MatchedRouter(routes, lifespan=lifespan)


def create_app(settings: Settings | None = None, *, schemas: SchemaStore | None = None) -> SimulatorApp:
    """Build the simulator app. Nothing is opened until the lifespan starts."""
    from simulator import ui
    from simulator.control.routes import routes as control_routes

    settings = settings or Settings.from_env()
    try:
        sim = Simulation.build(settings, schemas)
        sim.journal.register(EXCHANGE, exchange_entry)  # a request's entry: built from its record when read
        for name in PROVIDER_MODULES:
            sim.install(importlib.import_module(name).create(sim))
        sim.retention.check()
    except RetentionSettingError as exc:  # said in one line by the CLI, as a bad world config is
        raise ConfigError(f"PROVIDER_SIM_RETENTION: {exc}") from None
    routes: list[BaseRoute] = list(control_routes)
    for provider in sim.providers:
        routes += provider.control_routes()
    # The provider that answers paths no other claims (api_prefix "") goes last: its routes start at the root.
    for provider in sorted(sim.providers, key=lambda p: p.api_prefix == ""):
        routes += provider.routes()
    routes += ui.routes()

    def shape_for(path: str) -> ErrorShape:
        if path == "/_sim" or path.startswith("/_sim/"):
            return _control_shape
        provider = sim.providers.for_path(path)
        return provider.error_response if provider is not None else _control_shape

    # Starlette calls each handler with the exception class it is registered for (the annotation it takes is
    # Exception): the isinstance checks narrow the type, and a mismatch would be a registration bug.
    async def on_simulator_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, SimulatorError):
            raise TypeError(exc)
        return exc.render()

    async def on_http_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):
            raise TypeError(exc)
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
        if not isinstance(exc, BodyTooLarge):
            raise TypeError(exc)
        return shape_for(request.url.path)(413, "PayloadTooLarge", str(exc))

    async def on_malformed(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, MalformedBody):
            raise TypeError(exc)
        return shape_for(request.url.path)(400, "BadRequest", exc.message)

    def unexpected(method: str, path: str, exc: Exception) -> Response:
        """The answer to an exception no handler expected (never a bare 500 page, never a dropped connection)."""
        if sim.store.failed(exc):
            # The db cannot take writes now (disk full, I/O error): the request was rolled back. Not a bug, and a
            # retry can succeed once that is fixed, so 503 with Retry-After, as a provider would answer.
            log.error("storage unavailable on %s %s: %s", method, path, exc)
            response = shape_for(path)(
                503, "ServiceUnavailable",
                f"the simulator's database cannot be written ({exc}; db: {sim.store.location}):"
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

    app = SimulatorApp(
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
    app.state.sim = sim
    app.state.version = __version__
    return app

