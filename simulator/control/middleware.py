"""ASGI middleware: match each request to an operation, apply fault rules, journal request and response."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.core.clock import iso_ms
from simulator.core.events import RequestFailed
from simulator.core.faults import Decision, RequestFacts
from simulator.core.journal import (
    BODY_LIMIT,
    NOTES_KEY,
    body_for_journal,
    closest_operation,
    keepable,
    mask_headers,
)

log = logging.getLogger("simulator.control")
BUFFER_LIMIT = 2 * 1024 * 1024 + 1  # enough for any JSON body; larger uploads stream through unbuffered
RESPONSE_KEEP = BODY_LIMIT * 4 + 1  # as much of a response as its journal entry can show (see keepable)
ROUTE_KEY = "simulator.route"
# Control mutations the journal leaves out (they would drown what a test is looking for in it).
UNJOURNALED = ("/_sim/journal", "/_sim/faults", "/_sim/webhooks", "/_sim/reset", "/_sim/ui", "/_sim/coverage")


class ControlMiddleware:
    """Registered once in ``create_app``; ``shape_for(path)`` renders an error in that path's provider shape."""

    def __init__(self, app: ASGIApp, shape_for: Callable[[str], Callable[[int, str, str], Response]],
                 unexpected: Callable[[str, str, Exception], Response] | None = None) -> None:
        self.app = app
        self.shape_for = shape_for
        # Renders an exception no handler expected. Answering here, not in Starlette's ServerErrorMiddleware,
        # matters: that one re-raises after its answer and uvicorn then closes the connection under the client.
        self.unexpected = unexpected
        # Route matching walks every route's regex; the table is fixed once the app is built, so remember
        # results per (method, path). Sends to one channel share a path, so a load test mostly hits the cache.
        self._matches: dict[tuple[str, str], _Matched] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        control_request = path == "/_sim" or path.startswith("/_sim/")
        sim = scope["app"].state.sim
        if sim.fleet.active:
            await _catch_up(sim)
            if control_request:
                send = _publishing(sim, send)
        if control_request and (method in ("GET", "HEAD") or path.startswith(UNJOURNALED)):
            await self._unjournaled(scope, receive, send)
            return
        started = asyncio.get_running_loop().time()
        at_ms = sim.clock.now_ms()

        # Buffer the body (bounded) so rules can match on it and the journal can show it; replay it downstream.
        # Only JSON can be matched on: of any other body (an upload, whose URL is its credential and which its
        # handler checks before reading on) no more is read here than the journal shows.
        buffer_limit = BUFFER_LIMIT if _may_be_json(scope) else BODY_LIMIT + 1
        chunks: list[bytes] = []
        size = 0
        more = True
        while more and size < buffer_limit:
            message = await receive()
            if message["type"] != "http.request":
                chunks.append(b"")
                more = False
                break
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        replayed = False
        remaining_stream = more

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": remaining_stream}
            if remaining_stream:
                return await receive()
            return await receive()  # http.disconnect when the client goes away

        key = (method, path)
        matched = self._matches.get(key)
        if matched is None:
            matched = _match(scope, "control" if control_request else _provider_name(sim, path))
            if len(self._matches) > 4096:
                self._matches.clear()
            self._matches[key] = matched
        operation, route, params, near, provider, route_obj = matched
        if route_obj is not None:
            # The router below would walk every route again; hand it the match (see MatchedRouter).
            scope[ROUTE_KEY] = (route_obj, params)
        decision = None
        facts = None
        if not control_request and sim.faults.rules:
            header_map = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            facts = RequestFacts(
                provider=provider, method=method, path=path, operation=operation, route=route,
                path_params=dict(params), headers=header_map,
                query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
                body=_json_or_none(raw, header_map.get("content-type", "")),
            )

        status_box: dict[str, Any] = {"status": None, "headers": [], "body": bytearray(), "size": 0}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
                status_box["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                body = status_box["body"]
                chunk = message.get("body", b"")
                status_box["size"] += len(chunk)
                if len(body) < RESPONSE_KEEP:
                    body.extend(chunk[: RESPONSE_KEEP - len(body)])
            await send(message)

        error: str | None = None
        store = sim.store
        store.request_started()
        try:
            # Matching reads the client's body: a slip there is answered like any other (below), not a reset.
            decision = sim.faults.pick(facts) if facts is not None else None
            while decision is not None and decision.rule.times is not None and sim.fleet.active \
                    and not await sim.fleet.take_fault_hit(decision.rule.id, decision.rule.times):
                sim.faults.remove(decision.rule.id)  # its hits were all taken by other processes of the fleet
                decision = sim.faults.pick(facts)
            if decision is not None:
                await self._apply(decision, scope, replay, capture)
            else:
                await self.app(scope, replay, capture)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if status_box["status"] is not None or self.unexpected is None:
                status_box["status"] = status_box["status"] or 500
                raise  # the answer had begun: only closing the connection can tell the client
            await self.unexpected(method, path, exc)(scope, replay, capture)
        finally:
            store.request_finished()
            # Only what the entry is built from is kept now; masking and parsing wait until someone reads the
            # journal (most entries of a load test never are). Bodies are cut to what the entry can show.
            duration_s = asyncio.get_running_loop().time() - started
            duration_ms = round(duration_s * 1000, 3)
            sim.metrics.request(provider, route, method, status_box["status"], duration_s)
            fault = None if decision is None else {
                "id": decision.rule.id, "latencyMs": round(decision.latency_s * 1000, 3),
                "status": decision.rule.status, "drop": decision.rule.drop}
            sim.journal.append_record("control" if control_request else "request", provider, EXCHANGE, (
                provider, method, path, scope.get("query_string", b""), list(scope.get("headers", [])),
                keepable(raw), _body_size(scope, raw, more), more, operation, route, near, status_box["status"],
                status_box["headers"], status_box["body"], status_box["size"], at_ms, duration_ms, fault, error,
                scope.get("state", {}).get(NOTES_KEY)))
            answered = None if fault is not None and fault["drop"] else status_box["status"]
            if not control_request and (answered is None or answered >= 400) and sim.events.listening(RequestFailed):
                sim.events.publish(RequestFailed(provider, method, operation, answered, params,
                                                 scope.get("headers", []), status_box["body"],
                                                 None if fault is None else fault["id"]))

    async def _unjournaled(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A control request that is not journaled; an unexpected error is still answered, not a dropped
        connection (see ``unexpected``)."""
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started or self.unexpected is None:
                raise
            await self.unexpected(scope["method"], scope["path"], exc)(scope, receive, send)

    async def _apply(self, decision: Decision, scope: Scope, receive: Receive, send: Send) -> None:
        rule = decision.rule
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if rule.drop:
            # Headers go out, then the connection closes before the promised body: the client sees a broken reply.
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")]})
            scope.setdefault("state", {})["dropped"] = True
            return
        if rule.status is None:
            await self.app(scope, receive, send)
            return
        default_code = {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway",
                        503: "ServiceUnavailable", 504: "GatewayTimeout"}.get(rule.status, "InjectedFault")
        message = rule.message or f"injected fault {rule.id}: HTTP {rule.status}"
        response = self.shape_for(scope["path"])(rule.status, rule.code or default_code, message)
        if rule.retry_after is not None:
            response.headers["retry-after"] = str(int(rule.retry_after) if float(rule.retry_after).is_integer()
                                                  else rule.retry_after)
        elif rule.status in (429, 503):
            response.headers["retry-after"] = "1"
        response.headers["x-simulator-fault"] = rule.id
        await response(scope, receive, send)


async def _catch_up(sim: Any) -> None:
    """Before serving: what other processes of the fleet changed (core/fleet.py). A database that cannot be read
    now is the request's own business: it answers 503 where it needs the store."""
    try:
        await sim.fleet.sync()
    except Exception as exc:
        if not sim.store.failed(exc):
            raise


def _publishing(sim: Any, send: Send) -> Send:
    """A control request's answer goes out once what it changed is written where the fleet reads it: the next
    request, on any process, sees it."""
    async def publishing_send(message: Message) -> None:
        if message["type"] == "http.response.start" and sim.state.pending:
            await sim.state.flush()
        await send(message)

    return publishing_send


def _provider_name(sim: Any, path: str) -> str:
    provider = sim.providers.for_path(path)
    return provider.name if provider is not None else "unknown"


# (operation name, route template, path params, closest "METHOD template" when nothing matched, provider name,
# the fully matched route)
_Matched = tuple[str | None, str | None, dict[str, Any], str | None, str, Route | None]


def _match(scope: Scope, provider: str) -> _Matched:
    partial: Route | None = None
    candidates: list[str] = []
    for route in scope["app"].router.routes:
        if not isinstance(route, Route):
            continue
        match, child = route.matches(scope)
        if match == Match.FULL:
            return route.name, route.path, dict(child.get("path_params", {})), None, provider, route
        if match == Match.PARTIAL and partial is None:
            partial = route
        for m in sorted(route.methods or []):
            if m != "HEAD":
                candidates.append(f"{m} {route.path}")
    if partial is not None:
        methods = "/".join(sorted((partial.methods or set()) - {"HEAD"}))
        return None, partial.path, {}, f"{methods} {partial.path}", provider, None
    return None, None, {}, closest_operation(scope["method"], scope["path"], candidates), provider, None


def _body_size(scope: Scope, raw: bytes, more: bool) -> int:
    """The body's size for the journal: what was read, or what Content-Length says when the rest streamed on."""
    if more:
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit():
                return max(int(value), len(raw))
    return len(raw)


def _may_be_json(scope: Scope) -> bool:
    """Is the body JSON by its Content-Type (or has it none, as a client posting JSON may)?"""
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            return b"json" in value.lower()
    return True


def _json_or_none(raw: bytes, content_type: str) -> Any:
    if not raw or ("json" not in content_type.lower() and raw[:1] not in (b"{", b"[")):
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


EXCHANGE = "exchange"  # the journal's name for entries built by exchange_entry


def _text(value: Raw) -> str:
    return value if isinstance(value, str) else bytes(value).decode("latin-1")


def _raw(value: Raw) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else bytes(value)


Raw = bytes | bytearray | str  # bytes as the request carried them; latin-1 text once a stored journal kept them


def exchange_entry(provider: str, method: str, path: str, query: Raw, raw_headers: list[tuple[Raw, Raw]],
                   raw: Raw, size: int, streamed: bool, operation: str | None, route: str | None, near: str | None,
                   status: int | None, raw_response_headers: list[tuple[Raw, Raw]], response_body: Raw,
                   response_size: int, at_ms: int, duration_ms: float, fault: dict[str, Any] | None,
                   error: str | None, notes: list[str] | None = None) -> dict[str, Any]:
    """A request's journal entry from the record the middleware kept (built when someone reads the journal)."""
    headers = [(_text(k), _text(v)) for k, v in raw_headers]
    header_map = dict(headers)
    body, truncated = body_for_journal(_raw(raw), {k.lower(): v for k, v in headers}.get("content-type", ""),
                                       size=size)
    resp_headers = [(_text(k), _text(v)) for k, v in raw_response_headers]
    resp_ctype = next((v for k, v in resp_headers if k.lower() == "content-type"), "")
    resp_body, resp_truncated = body_for_journal(_raw(response_body), resp_ctype, size=response_size)
    entry: dict[str, Any] = {
        "kind": "control" if provider == "control" else "request",
        "at": iso_ms(at_ms), "atMs": at_ms, "provider": provider, "operation": operation, "route": route,
        "method": method, "path": path, "query": _text(query),
        "headers": mask_headers(header_map.items()), "body": body, "bodyTruncated": truncated or streamed,
        "response": {"status": status, "headers": mask_headers(resp_headers), "body": resp_body,
                     "bodyTruncated": resp_truncated},
        "durationMs": duration_ms,
    }
    if fault is not None:
        entry["fault"] = fault
        if fault["drop"]:
            entry["response"]["status"] = None
            entry["response"]["dropped"] = True
    if error:
        entry["error"] = error
    diagnostics = _diagnostics(operation, near, status, resp_body)
    if notes:
        diagnostics = {**(diagnostics or {}), "notes": list(notes)}
    if diagnostics:
        entry["diagnostics"] = diagnostics
    return entry


class MatchedRouter(Router):
    """Takes the route ControlMiddleware already matched (cached per method and path) instead of testing every
    route's regex again: with ~60 routes that scan was a noticeable part of every send."""

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = scope.pop(ROUTE_KEY, None)
        if hit is None:
            await super().app(scope, receive, send)
            return
        route, params = hit
        scope.setdefault("router", self)
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(params)
        await route.handle(scope, receive, send)


def _diagnostics(operation: str | None, near: str | None, status: int | None, body: Any) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if operation is None:
        out["unmatched"] = True
        if near:
            out["closestOperation"] = near
    if status in (400, 422) and isinstance(body, dict):
        details = body.get("details")
        if details is None and isinstance(body.get("error"), dict):
            details = body["error"].get("details")
        if details is None:
            details = body.get("errors")  # Business Chat: [{"pointer"|"header": ..., "message": ...}]
        paths: list[str] = []
        if isinstance(details, dict):
            paths = [str(k) for k in details]
        elif isinstance(details, list):
            for d in details:
                if isinstance(d, dict):
                    p = d.get("path") or d.get("pointer") or d.get("field") or d.get("header")
                    if p is not None:
                        paths.append(str(p))
        if paths:
            out["schemaPaths"] = paths
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            out["message"] = message
    return out or None
