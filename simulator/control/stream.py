"""GET /_sim/events: the simulation's event bus as server-sent events (the web UI listens to it).

A stream subscribes to every event with a stream name; the bus hands each one over after its commit and the
stream only puts it on its own queue (``put_nowait``). A subscriber that falls behind gets a ``resync`` event
instead of an unbounded queue.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from simulator.control.common import sim_of
from simulator.control.errors import ControlError
from simulator.control.routing import Param, query
from simulator.core.clock import iso_ms
from simulator.core.events import Event, RemoteEvent

QUEUE_SIZE = 2000
# A stream ends after this long and the browser's EventSource reconnects (``retry``): a server shutdown never
# waits on an open tab for longer than this, and the UI refetches on every (re)connect, so nothing is missed.
MAX_STREAM_S = 20.0
PING_S = 10.0
_ids = itertools.count(1)  # event ids of the stream; only their order matters (resync markers)


class _Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[int, str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)

    def __call__(self, event: Event) -> None:
        name = event.remote_stream if isinstance(event, RemoteEvent) else event.stream
        if not name:
            return
        item = (next(_ids), name, event.stream_data())
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:  # too far behind: drop what it has and tell it to refetch everything
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait((item[0], "resync", {"reason": "subscriber fell behind"}))


def _sse(event_id: int | None, kind: str, data: dict[str, Any]) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


STREAM_PARAMS = (Param("maxSeconds", "end the stream after this long (0.1 to 3600; default 20)", "0.1"),)


async def events(request: Request) -> Response:
    sim = sim_of(request)
    max_s = MAX_STREAM_S
    raw = query(request, "maxSeconds")
    if raw is not None:
        try:
            max_s = max(0.1, min(3600.0, float(raw)))
        except ValueError:
            raise ControlError('"maxSeconds" must be a number') from None
    subscriber = _Subscriber()
    unsubscribe = sim.events.subscribe(None, subscriber)
    queue = subscriber.queue

    async def stream() -> AsyncIterator[str]:
        sim.fleet.streams += 1  # other processes of a fleet send their events here while a stream is open
        try:
            clock = sim.clock.describe()
            yield "retry: 1000\n\n" + _sse(None, "hello", {"clock": clock, "maxSeconds": max_s})
            last_clock = clock["nowMs"]
            last_sent = started = time.monotonic()
            while time.monotonic() - started < max_s:
                wait = min(1.0, max(0.0, max_s - (time.monotonic() - started)))
                try:
                    event_id, kind, data = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    pass
                else:
                    yield _sse(event_id, kind, data)
                    last_sent = time.monotonic()
                    while not queue.empty():
                        event_id, kind, data = queue.get_nowait()
                        yield _sse(event_id, kind, data)
                # A real clock moves without events: tell the page once a second.
                now = sim.clock.now_ms()
                if now != last_clock and (sim.clock.manual or time.monotonic() - last_sent >= 1.0):
                    last_clock = now
                    last_sent = time.monotonic()
                    yield _sse(None, "clock", {"now": iso_ms(now), "nowMs": now, "mode": sim.clock.mode})
                elif time.monotonic() - last_sent >= PING_S:
                    last_sent = time.monotonic()
                    yield ": ping\n\n"
        finally:
            sim.fleet.streams -= 1
            unsubscribe()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
