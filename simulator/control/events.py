"""Live events for the web UI (and anyone else): an in-memory bus on the Simulation, streamed as
server-sent events at GET /_sim/events, plus the read-only listings a UI needs (Bird messages across
workspaces with their status timeline, webhook deliveries with their attempts).

Publishers never block: listeners that run inside a write transaction only schedule a publish for after
the commit (``tx.after_commit``), and publishing is ``put_nowait`` on each subscriber's queue. A subscriber
that falls behind gets a ``resync`` event instead of an unbounded queue.
"""
from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from simulator.control.common import sim_of
from simulator.control.errors import ControlError, ControlNotFound
from simulator.core.clock import iso_ms, parse_rfc3339
from simulator.core.codec import loads_shown
from simulator.core.simulation import Simulation
from simulator.core.store import Tx

log = logging.getLogger("simulator.events")

QUEUE_SIZE = 2000
# A stream ends after this long and the browser's EventSource reconnects (``retry``): a server shutdown never
# waits on an open tab for longer than this, and the UI refetches on every (re)connect, so nothing is missed.
MAX_STREAM_S = 20.0
PING_S = 10.0


class EventBus:
    """Fan-out of small JSON events to every subscriber's asyncio queue. Call ``publish`` on the event loop."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[tuple[int, str, dict[str, Any]]]] = set()
        self._ids = itertools.count(1)
        self.published = 0

    def subscribe(self) -> asyncio.Queue[tuple[int, str, dict[str, Any]]]:
        queue: asyncio.Queue[tuple[int, str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Any]) -> None:
        self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self.published += 1
        if not self._subscribers:
            return
        item = (next(self._ids), kind, data)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                # Too far behind: drop what it has and tell it to refetch everything.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait((item[0], "resync", {"reason": "subscriber fell behind"}))

    @property
    def listening(self) -> bool:
        """Whether anyone subscribes now: producers skip building events nobody would read."""
        return bool(self._subscribers)

    def publish_after_commit(self, tx: Tx, kind: str, data: dict[str, Any]) -> None:
        tx.after_commit.append(lambda: self.publish(kind, data))


def install_bus(sim: Simulation) -> EventBus:
    """Create the bus on ``sim.events`` and feed it from the outbox, Bird, Business Chat and resets."""
    bus: EventBus | None = getattr(sim, "events", None)
    if isinstance(bus, EventBus):
        return bus
    bus = EventBus()
    sim.events = bus

    def on_attempt(notice: dict[str, Any]) -> None:
        bus.publish("webhook", dict(notice))

    sim.outbox.listeners.append(on_attempt)

    bird = sim.providers.get("bird")
    if bird is not None:
        async def on_bird(tx: Tx, event: str, message: dict[str, Any], context: dict[str, Any]) -> None:
            channel = context.get("channel")
            channel_id = message.get("channelId") or getattr(channel, "id", "") or ""
            workspace_id = getattr(channel, "workspace_id", "") or _workspace_of(sim, channel_id)
            status = str(message.get("status", ""))
            at = (context.get("atMs") or _ms(message.get("lastStatusAt") or message.get("updatedAt"))
                  or sim.clock.now_ms())
            failure = message.get("failure")
            details = json.dumps({"reason": message.get("reason", ""), "failure": failure},
                                 separators=(",", ":")) if failure or message.get("reason") else ""
            seq = context.get("seq")
            if not isinstance(seq, int):  # an emitter that did not have the row at hand (an interaction)
                row = await tx.fetch_one("SELECT seq FROM bird_messages WHERE id=?", (message.get("id", ""),))
                seq = row[0] if row is not None else 0
            tx.defer(
                "INSERT INTO ui_bird_status_history (message_id, message_seq, workspace_id, channel_id, event, status,"
                " at, details) VALUES (?,?,?,?,?,?,?,?)",
                (message.get("id", ""), seq, workspace_id, channel_id, event, status, at, details))
            if not bus.listening:
                return
            bus.publish_after_commit(tx, "bird.message", {
                "event": event, "id": message.get("id"), "status": status, "direction": message.get("direction"),
                "channelId": channel_id, "workspaceId": workspace_id, "at": iso_ms(at)})

        bird.messages.listeners.append(on_bird)

    async def on_reset(tx: Tx, scope: dict[str, str]) -> None:
        for key, column in (("workspace", "workspace_id"), ("channel", "channel_id")):
            if key in scope:
                # Through the scope's messages (the timeline has no workspace or channel index: see migration 0012)
                await tx.execute("DELETE FROM ui_bird_status_history WHERE message_seq IN"  # noqa: S608
                                 f" (SELECT seq FROM bird_messages WHERE {column}=?)", (scope[key],))
        bus.publish_after_commit(tx, "reset", {"scope": scope or "all"})

    # First: the timeline's rows are found through the messages, which Bird's own reset hook deletes.
    sim.reset_hooks.insert(0, on_reset)

    business_chat = sim.providers.get("business_chat")
    if business_chat is not None:
        _watch_business_chat(bus, business_chat)
    _watch_journal(bus, sim)
    return bus


def _watch_business_chat(bus: EventBus, bc: Any) -> None:
    """Business Chat has no event hook: publish after each gateway message and customer action completes.

    Scripted customer behaviour runs as scheduler jobs; what it sends goes through the outbox, whose attempts
    are published as ``webhook`` events (the UI refreshes Business Chat on those too).
    """
    import functools

    def wrap(name: str, event: str, ids: Any) -> None:
        original = getattr(bc, name, None)
        if original is None or getattr(original, "_ui_wrapped", False):
            return

        @functools.wraps(original)
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = await original(*args, **kwargs)
            bus.publish("businessChat", {"event": event, **ids(args)})
            return result

        wrapped._ui_wrapped = True  # type: ignore[attr-defined]
        setattr(bc, name, wrapped)

    wrap("send", "business.message", lambda a: {"businessId": a[0] if a else None,
                                                "customerId": (a[1] or {}).get("id") if len(a) > 1 else None})
    wrap("act", "customer.action", lambda a: {"businessId": a[0] if a else None,
                                              "customerId": a[1] if len(a) > 1 else None})


def _watch_journal(bus: EventBus, sim: Simulation) -> None:
    """Publish a small ``journal`` event for every journal entry (the journal itself has no listener hook)."""
    try:
        from simulator.control.state import control_of
    except ImportError:
        return
    journal = getattr(control_of(sim), "journal", None)
    original = getattr(journal, "append", None)
    if original is None or getattr(original, "_ui_wrapped", False):
        return

    def append(entry: dict[str, Any]) -> dict[str, Any]:
        result = original(entry)
        bus.publish("journal", {"seq": entry.get("seq"), "kind": entry.get("kind"), "provider": entry.get("provider")})
        return result

    append._ui_wrapped = True  # type: ignore[attr-defined]
    journal.append = append  # type: ignore[union-attr]


def _workspace_of(sim: Simulation, channel_id: str) -> str:
    channel = sim.world.bird.channel(channel_id) if channel_id else None
    return channel.workspace_id if channel is not None else ""


def _ms(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def _limit(request: Request, default: int = 100, maximum: int = 1000) -> int:
    raw = request.query_params.get("limit", str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ControlError(f'"limit" must be an integer from 1 to {maximum}', details={"limit": ["invalid"]}) from None
    if not 1 <= value <= maximum:
        raise ControlError(f'"limit" must be an integer from 1 to {maximum}', details={"limit": ["out of range"]})
    return value


def _sse(event_id: int | None, kind: str, data: dict[str, Any]) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


# -- handlers ---------------------------------------------------------------------------------------------------

async def events(request: Request) -> Response:
    """GET /_sim/events: text/event-stream of bird.message, webhook, businessChat, reset and clock events."""
    sim = sim_of(request)
    bus = install_bus(sim)
    max_s = MAX_STREAM_S
    if "maxSeconds" in request.query_params:
        try:
            max_s = max(0.1, min(3600.0, float(request.query_params["maxSeconds"])))
        except ValueError:
            raise ControlError('"maxSeconds" must be a number') from None
    queue = bus.subscribe()

    async def stream() -> AsyncIterator[str]:
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
                now = sim.clock.now_ms()
                if now != last_clock and (sim.clock.manual or time.monotonic() - last_sent >= 1.0):
                    last_clock = now
                    last_sent = time.monotonic()
                    yield _sse(None, "clock", {"now": iso_ms(now), "nowMs": now, "mode": sim.clock.mode})
                elif time.monotonic() - last_sent >= PING_S:
                    last_sent = time.monotonic()
                    yield ": ping\n\n"
        finally:
            bus.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _history(sim: Simulation, keys: list[tuple[int, str]]) -> dict[str, list[dict[str, Any]]]:
    """Timelines of messages given as (seq, id): the history index is keyed by the message's rowid."""
    out: dict[str, list[dict[str, Any]]] = {i: [] for _, i in keys}
    for start in range(0, len(keys), 400):
        chunk = keys[start:start + 400]
        rows = await sim.store.fetch_all(
            f"SELECT message_id, event, status, at, details FROM ui_bird_status_history"  # noqa: S608
            f" WHERE message_seq IN ({','.join('?' * len(chunk))}) ORDER BY id", [seq for seq, _ in chunk])
        for row in rows:
            timeline = out.get(row[0])
            if timeline is None:
                continue  # a row of a message deleted since (ids are not reused, seqs neither): not one asked for
            if timeline and timeline[-1]["status"] == row[2]:
                continue  # the same status again (an interaction, a duplicate event): one step in the timeline
            step: dict[str, Any] = {"status": row[2], "at": iso_ms(row[3]), "atMs": row[3], "event": row[1]}
            if row[4]:
                step.update(json.loads(row[4]))
            timeline.append(step)
    return out


def _view(data: str, workspace_id: str, history: list[dict[str, Any]]) -> dict[str, Any]:
    message = json.loads(data)
    message["workspaceId"] = workspace_id
    if not history:  # written before the timeline existed (or by another path): at least the current status
        history = [{"status": message.get("status"), "at": message.get("lastStatusAt") or message.get("createdAt"),
                    "event": ""}]
    message["statusHistory"] = history
    return message


async def bird_messages(request: Request) -> Response:
    """GET /_sim/bird/messages?limit=&workspace=&channel=&contact=&after=: newest first, every workspace."""
    sim = sim_of(request)
    limit = _limit(request, 200, 2000)
    where, params = [], []
    for name, column in (("workspace", "workspace_id"), ("channel", "channel_id"), ("direction", "direction"),
                         ("status", "status")):
        value = request.query_params.get(name)
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    phone = request.query_params.get("phonenumber")
    if phone:
        where.append("(recipient = ? OR sender = ?)")
        params += [phone, phone]
    sql = "SELECT data, workspace_id, id, seq FROM bird_messages"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = await sim.store.fetch_all(sql + " ORDER BY created_at DESC, seq DESC LIMIT ?", params + [limit])
    history = await _history(sim, [(r[3], r[2]) for r in rows])
    return JSONResponse({"results": [_view(r[0], r[1], history[r[2]]) for r in rows],
                         "clock": sim.clock.describe()})


async def bird_message(request: Request) -> Response:
    """GET /_sim/bird/messages/{id}: the message, its status timeline and the webhook deliveries naming it."""
    sim = sim_of(request)
    message_id = request.path_params["message_id"]
    row = await sim.store.fetch_one("SELECT data, workspace_id, seq FROM bird_messages WHERE id=?",
                                    (message_id,))
    if row is None:
        raise ControlNotFound(f"message {message_id} not found")
    history = await _history(sim, [(row[2], message_id)])
    view = _view(row[0], row[1], history[message_id])
    view["webhooks"] = await _deliveries(sim, 100, contains=message_id)
    return JSONResponse(view)


def _decode_body(headers: dict[str, str], body: bytes) -> Any:
    lowered = {k.lower(): v for k, v in headers.items()}
    if lowered.get("content-encoding", "").lower() == "gzip" or body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except OSError:
            return {"_binary": len(body)}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"_binary": len(body)}
    try:
        return loads_shown(text)
    except (ValueError, RecursionError):
        return text


async def _deliveries(sim: Simulation, limit: int, *, provider: str | None = None, contains: str | None = None,
                      status: str | None = None, event: str | None = None) -> list[dict[str, Any]]:
    where, params = [], []
    if provider:
        where.append("provider = ?")
        params.append(provider)
    if status:
        where.append("status = ?")
        params.append(status)
    if event:
        where.append("event = ?")
        params.append(event)
    sql = ("SELECT id, provider, scope, event, subscription_id, request_id, url, headers, body, created_at,"
           " next_attempt_at, attempts, status, last_status, last_error FROM outbox")
    if where:
        sql += " WHERE " + " AND ".join(where)
    # ``contains`` filters on the decoded body (bodies may be gzip): scan a bounded window of recent rows.
    scan = limit if not contains else max(limit * 20, 2000)
    rows = await sim.store.fetch_all(sql + " ORDER BY id DESC LIMIT ?", params + [scan])
    items: list[dict[str, Any]] = []
    for r in rows:
        headers = json.loads(r[7])
        body = _decode_body(headers, bytes(r[8]))
        if contains and contains not in (body if isinstance(body, str) else json.dumps(body)):
            continue
        items.append({
            "id": r[0], "provider": r[1], "scope": r[2], "event": r[3], "subscriptionId": r[4], "requestId": r[5],
            "url": r[6], "headers": headers, "body": body, "createdAt": iso_ms(r[9]),
            "nextAttemptAt": iso_ms(r[10]) if r[10] is not None else None, "attemptCount": r[11], "status": r[12],
            "lastStatusCode": r[13], "lastError": r[14], "attempts": [],
        })
        if len(items) >= limit:
            break
    if items:
        ids = [i["id"] for i in items]
        attempts = await sim.store.fetch_all(
            f"SELECT outbox_id, attempt, at, status_code, error, duration_ms, response_body"  # noqa: S608
            f" FROM outbox_attempts"
            f" WHERE outbox_id IN ({','.join('?' * len(ids))}) ORDER BY id", ids)
        by_id = {i["id"]: i for i in items}
        for a in attempts:
            by_id[a[0]]["attempts"].append({"attempt": a[1], "at": iso_ms(a[2]), "statusCode": a[3], "error": a[4],
                                            "durationMs": round(a[5], 1), "responseBody": a[6]})
    return items


async def outbox(request: Request) -> Response:
    """GET /_sim/outbox?limit=&provider=&status=&event=&contains=: webhook deliveries, newest first, with attempts."""
    sim = sim_of(request)
    q = request.query_params
    items = await _deliveries(sim, _limit(request, 100, 1000), provider=q.get("provider") or None,
                              contains=q.get("contains") or None, status=q.get("status") or None,
                              event=q.get("event") or None)
    return JSONResponse({"results": items, "stats": await sim.outbox.stats()})


def routes() -> list[BaseRoute]:
    return [
        Route("/_sim/events", events, methods=["GET"]),
        Route("/_sim/bird/messages", bird_messages, methods=["GET"]),
        Route("/_sim/bird/messages/{message_id}", bird_message, methods=["GET"]),
        Route("/_sim/outbox", outbox, methods=["GET"]),
    ]
