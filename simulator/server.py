"""SimulatorServer: the app under uvicorn in a background thread on a free port, as a context manager."""
from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from simulator.settings import Settings

if TYPE_CHECKING:
    from simulator.core.simulation import Simulation

T = TypeVar("T")


class SimulatorStartError(RuntimeError):
    pass


class SimulatorServer:
    """Run the simulator in-process on 127.0.0.1:<free port>.

    >>> with SimulatorServer(Settings(db=":memory:", clock="manual")) as server:
    ...     print(server.url)
    """

    def __init__(self, settings: Settings | None = None, *, startup_timeout: float = 15.0) -> None:
        import uvicorn

        from simulator.app import create_app
        from simulator.core.http_server import BoundedHttpToolsProtocol

        settings = settings or Settings(db=":memory:", clock="manual", port=0, retention="off")
        # Pre-bind with IPPROTO_TCP: asyncio only sets TCP_NODELAY when proto is TCP (else ~44 ms per request).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((settings.loopback_host, settings.port))
        self.host, self.port = self._sock.getsockname()[:2]
        self.settings = settings.replace(port=self.port)
        try:
            self.app = create_app(self.settings)
        except BaseException:  # a world config or setting refused: the socket is not left behind
            self._sock.close()
            raise
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", access_log=False,
                                http=BoundedHttpToolsProtocol)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="provider-sim", daemon=True)
        self._startup_timeout = startup_timeout
        self._loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        # uvicorn exits with SystemExit when the app's start-up fails; start() reports the cause.
        with contextlib.suppress(SystemExit):
            asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._server.serve(sockets=[self._sock])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def sim(self) -> Simulation:
        sim: Simulation = self.app.state.sim  # set by create_app; Starlette's State is untyped
        return sim

    def start(self) -> SimulatorServer:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                cause = getattr(self.app.state, "startup_error", None)
                self._sock.close()
                if cause is not None:
                    raise SimulatorStartError(f"the simulator could not start: {cause}") from cause
                raise SimulatorStartError("the simulator thread exited during start-up (see the log above)")
            if time.monotonic() > deadline:
                raise SimulatorStartError(f"the simulator did not start within {self._startup_timeout} s")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the server's event loop (for in-process helpers: fast reset, direct reads)."""
        if self._loop is None:
            raise SimulatorStartError("server is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
