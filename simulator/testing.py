"""Test helpers shipped with the package: a control-plane client and a real loopback webhook receiver."""
from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, TypeAlias

try:
    import httpx2 as httpx
except ModuleNotFoundError as missing:  # the server needs no HTTP client of this kind; the test helpers do
    raise ModuleNotFoundError("simulator.testing (the pytest fixtures, SimClient, replay) needs the testing extra: "
                              "pip install 'provider-simulator[testing]'", name=missing.name) from missing

from simulator.core.codec import is_digits
from simulator.core.compression import gunzip

if TYPE_CHECKING:
    from simulator.replay.runner import Result
    from simulator.server import SimulatorServer
    from simulator.settings import Settings, SettingsFields

# What a received gzip body may inflate to (the simulator's webhooks are far smaller; a bomb is not read past it).
RECEIVED_LIMIT = 64 * 1024 * 1024


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    #: How many requests that arrived earlier were still waiting for their answer when this one arrived.
    unanswered_before: int = 0
    #: None until the answer is written; then True, or False if the sender had hung up by then.
    answered: bool | None = None
    #: When the answer was written or failed (``time.time()``, as ``received_at``).
    answered_at: float | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def raw_json(self) -> Any:
        body = self.body
        if (self.header("content-encoding") or "").lower() == "gzip":
            body = gunzip(body, RECEIVED_LIMIT)
        return json.loads(body)

    def json(self) -> Any:
        return self.raw_json()


def dotted(value: object, path: str) -> Any:
    """``dotted({"a": [{"b": 1}]}, "a.0.b") == 1``; a missing step gives :data:`MISSING`."""
    for part in path.split(".") if path else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and is_digits(part, signed=True) and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()


def subset_matches(data: object, match: Mapping[str, object] | None) -> bool:
    """Every ``dotted.path: expected`` pair in ``match`` holds in ``data``."""
    return all(dotted(data, key) == expected for key, expected in (match or {}).items())


def _webhook_matches(request: ReceivedRequest, event: str | None, match: Mapping[str, object] | None) -> bool:
    try:
        body = request.json()
    except ValueError:
        return False
    if event is not None and (not isinstance(body, dict) or body.get("event") != event):
        return False
    return subset_matches(body, match)


def _summary(body: object) -> str:
    if isinstance(body, dict):
        payload = body.get("payload")
        if not isinstance(payload, dict):
            payload = {}
        bits = [f"event={body.get('event')}"] if "event" in body else []
        for key in ("id", "status", "type"):
            if key in payload:
                bits.append(f"payload.{key}={payload[key]}")
        if bits:
            return " ".join(bits)
    return json.dumps(body)[:200]


def describe_requests(requests: list[ReceivedRequest]) -> str:
    lines = []
    for r in requests:
        try:
            text = _summary(r.json())
        except ValueError:
            text = repr(r.body[:200])
        lines.append(f"  {r.method} {r.path} {text}")
    return "\n".join(lines) or "  (none)"


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: the outbox opens up to its concurrency (32) connections at once,
    # and each SYN past the backlog was dropped and retried by the kernel a second later.
    request_queue_size = 128

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        # A sender that hangs up mid-request (the simulator cancels deliveries in flight on a full reset, or times
        # one out) is no error of the receiver's: no traceback in the test's output.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


#: An answer: a status (body ``{}``) or a status and a body.
Answer: TypeAlias = int | tuple[int, bytes]


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1:<free port> that records every request it gets, a thread per connection.

    Each request is recorded as it arrives and answered 200, unless told otherwise:

    * ``set_responses([500, (200, b'{"ok": true}')])``: the next requests, in arrival order, get those answers.
    * ``hold()``: requests wait unanswered (on the wire, for the sender) until ``release()``, at most
      ``max_seconds`` each; a receiver that never releases is one that takes ``max_seconds`` per request.
    * ``respond_with(answer)``: ``answer(request)`` runs in the request's thread once any hold is over, and may
      block (a slow app) or call the simulator back (an app that reacts); it returns the answer, or None for the
      queued one (200 when none is queued).
    """

    host: str = "127.0.0.1"
    requests: list[ReceivedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._responses: list[Answer] = []
        self._answer: Callable[[ReceivedRequest], Answer | None] | None = None
        self._gate: threading.Event | None = None
        self._hold_seconds = 0.0
        self._unanswered = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                request, (status, payload) = receiver._serve(self.command, self.path, dict(self.headers.items()),
                                                             body)
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    answered = True
                except OSError:  # the sender hung up while the request was held, or timed it out
                    answered, self.close_connection = False, True
                receiver._answered(request, answered)

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle

        self._server = _Server((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def _serve(self, method: str, path: str, headers: dict[str, str], body: bytes
               ) -> tuple[ReceivedRequest, tuple[int, bytes]]:
        """Record a request, hold it if asked, and decide its answer."""
        with self._cond:
            request = ReceivedRequest(method, path, headers, body, time.time(), unanswered_before=self._unanswered)
            self._unanswered += 1
            self.requests.append(request)
            answer: Answer = self._responses.pop(0) if self._responses else 200
            custom, gate, hold_seconds = self._answer, self._gate, self._hold_seconds
            self._cond.notify_all()
        try:
            if gate is not None:
                gate.wait(hold_seconds)
            if custom is not None:
                chosen = custom(request)
                if chosen is not None:
                    answer = chosen
        finally:
            # Counted as answered before the answer is written: a sender that sends its next request only once it
            # has read this answer must never find this one still unanswered.
            with self._cond:
                self._unanswered -= 1
        return request, answer if isinstance(answer, tuple) else (answer, b"{}")

    def _answered(self, request: ReceivedRequest, answered: bool) -> None:
        with self._cond:
            request.answered, request.answered_at = answered, time.time()
            self._cond.notify_all()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def clear(self) -> None:
        """Forget every request and every instruction (queued answers, hold, custom answer): as new."""
        self.release()
        with self._cond:
            self.requests.clear()
            self._responses.clear()
            self._answer = None

    def set_responses(self, responses: list[Answer]) -> None:
        with self._cond:
            self._responses = list(responses)

    def respond_with(self, answer: Callable[[ReceivedRequest], Answer | None] | None) -> None:
        """Answer each request with ``answer(request)`` (None: the queued answer, else 200); None to stop."""
        with self._cond:
            self._answer = answer

    def hold(self, max_seconds: float = 10.0) -> None:
        """Leave the requests that arrive from now on unanswered until ``release()``, at most ``max_seconds``."""
        with self._cond:
            self._gate, self._hold_seconds = threading.Event(), max_seconds

    def release(self) -> None:
        """Answer the held requests now, and hold no more."""
        with self._cond:
            if self._gate is not None:
                self._gate.set()
            self._gate = None

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until at least ``count`` requests arrived; fail listing what did arrive."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = "\n".join(f"  {r.method} {r.path} {r.body[:200]!r}" for r in self.requests) or "  (none)"
                    raise AssertionError(f"expected {count} webhook request(s) within {timeout} s, got "
                                         f"{len(self.requests)}:\n{seen}")
                self._cond.wait(remaining)
            return list(self.requests)

    def wait_for_answers(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until at least ``count`` requests have had their answer written (or found their sender gone)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                done = [r for r in self.requests if r.answered is not None]
                if len(done) >= count:
                    return done
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} answered request(s) within {timeout} s, got {len(done)}"
                                         f" of {len(self.requests)}:\n{describe_requests(self.requests)}")
                self._cond.wait(remaining)

    def wait_for_webhook(self, event: str | None = None, match: Mapping[str, object] | None = None, *,
                         count: int = 1, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until ``count`` JSON webhooks with this ``event`` whose body has ``match`` (dotted paths) arrived.

        Fails listing every webhook that did arrive, so a wrong status or field is obvious.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [r for r in self.requests if _webhook_matches(r, event, match)]
                if len(hits) >= count:
                    return hits
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} webhook(s) event={event!r} matching {match!r} within {timeout} s; "
                        f"got {len(hits)}. Arrived ({len(self.requests)}):\n{describe_requests(self.requests)}")
                self._cond.wait(remaining)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ControlToken(httpx.Auth):
    """``Authorization: Bearer <token>`` on control-plane requests only: the provider APIs have their own auth,
    and a test that calls them without it must still see the provider's 401."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "_ControlToken(****)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        path = request.url.path
        if (path == "/_sim" or path.startswith("/_sim/")) and "authorization" not in request.headers:
            request.headers["Authorization"] = self._header
        yield request


class SimClient:
    """A small client for the control plane and the common provider calls, bound to one simulator URL.

    Answers are the simulator's JSON as parsed (``dict[str, Any]`` for an object): see docs/control-plane.md.
    ``token``: the simulator's control token (``PROVIDER_SIM_CONTROL_TOKEN``), sent on ``/_sim/...`` requests.
    """

    scenario: Result | None = None  # the pytest plugin's: the replay of the scenario its marker named

    def __init__(self, url: str, *, timeout: float = 30.0, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout, auth=_ControlToken(token) if token else None)
        self._info: dict[str, Any] | None = None

    def close(self) -> None:
        self.http.close()

    # -- control plane ------------------------------------------------------------------------------------------

    def _ok(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise AssertionError(f"{response.request.method} {response.request.url} -> {response.status_code}: "
                                 f"{response.text[:500]}")
        return response.json() if response.content else None

    def _object(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON object a control endpoint answers (they all answer one); fails on anything else."""
        body = self._ok(response)
        if not isinstance(body, dict):
            raise AssertionError(f"{response.request.method} {response.request.url} answered {response.text[:500]!r},"
                                 " not a JSON object")
        return body

    def health(self) -> dict[str, Any]:
        return self._object(self.http.get("/_sim/health"))

    def info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self._object(self.http.get("/_sim/info"))
        return self._info

    def reset(self, *, seed: int | None = None, **scope: str) -> dict[str, Any]:
        """Reset everything (optionally re-seeding) or one scope: ``reset(workspace=id)``, ``reset(customer=id)``."""
        body: dict[str, Any] = dict(scope)
        if seed is not None:
            body["seed"] = seed
        return self._object(self.http.post("/_sim/reset", json=body))

    def control(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        """Call any control endpoint (``/_sim/...``); fails on 4xx/5xx with the answer's text."""
        return self._ok(self.http.request(method, path, json=json, **kwargs))

    def _control_object(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._object(self.http.request(method, path, json=body))

    # -- behaviour coverage -----------------------------------------------------------------------------------------

    def coverage(self, **params: str | None) -> dict[str, Any]:
        """``GET /_sim/coverage``: every behaviour with its count, and the unmet ones with how to provoke them.
        Params: provider, workspace, business."""
        return self._object(self.http.get("/_sim/coverage", params={k: v for k, v in params.items() if v}))

    def coverage_counts(self, provider: str, **scope: str | None) -> dict[str, int]:
        """behaviour id -> how often it occurred, for one provider (``scope``: workspace= or business=)."""
        report = self.coverage(provider=provider, **scope)
        return {b["id"]: int(b["count"]) for section in report["providers"] for b in section["behaviours"]}

    def reset_coverage(self, provider: str | None = None) -> dict[str, Any]:
        """``DELETE /_sim/coverage``: the behaviour counts start over (a world reset keeps them)."""
        return self._object(self.http.delete("/_sim/coverage", params={"provider": provider} if provider else {}))

    # -- journal --------------------------------------------------------------------------------------------------

    def journal(self, **filters: str | int | None) -> list[dict[str, Any]]:
        """Journal entries, oldest first. Filters: kind, provider, operation, method, status, path, since, event."""
        params = {k: v for k, v in filters.items() if v is not None}
        entries: list[dict[str, Any]] = self._object(self.http.get("/_sim/journal", params=params))["entries"]
        return entries

    def clear_journal(self) -> int:
        return int(self._object(self.http.delete("/_sim/journal"))["cleared"])

    def export_scenario(self, name: str = "recorded session") -> str:
        response = self.http.get("/_sim/journal/export-scenario", params={"name": name})
        self._ok(response) if response.status_code >= 400 else None
        return response.text

    def wait_for_journal(self, *, count: int = 1, timeout: float = 5.0,
                         **filters: str | int | None) -> list[dict[str, Any]]:
        """Block (server side) until ``count`` journal entries match; fails listing the entries that did arrive."""
        body = {k: v for k, v in filters.items() if v is not None}
        response = self.http.post("/_sim/journal/wait", json={**body, "count": count, "timeout": timeout},
                                  timeout=timeout + 10)
        if response.status_code == 408:
            recent = self.journal(kind=filters.get("kind"))[-20:]
            raise AssertionError(f"expected {count} journal entr(y/ies) matching {body} within {timeout} s, got "
                                 f"{response.json()['count']}. Recent entries:\n{describe_journal(recent)}")
        entries: list[dict[str, Any]] = self._object(response)["entries"]
        return entries

    def wait_for_webhook(self, event: str | None = None, match: Mapping[str, object] | None = None, *,
                         timeout: float = 5.0, count: int = 1, ok: bool | None = None) -> list[dict[str, Any]]:
        """Wait until the simulator has sent ``count`` webhooks (any receiver) whose body has ``match``.

        Reads the journal's webhook attempts, so it works with your own app as the receiver. ``match`` keys are
        dotted paths into the webhook body (``{"payload.status": "delivered"}``). Fails listing every webhook sent.
        """
        deadline = time.monotonic() + timeout
        while True:
            entries = self.journal(kind="webhook", event=event)
            hits = [e for e in entries if subset_matches(e.get("body"), match) and (ok is None or e.get("ok") == ok)]
            if len(hits) >= count:
                return hits
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"expected {count} webhook(s) event={event!r} matching {match!r} within {timeout} s; got "
                    f"{len(hits)}. Webhooks sent ({len(entries)}):\n{describe_journal(entries)}")
            last = max((e["seq"] for e in entries), default=0)
            self.http.post("/_sim/journal/wait", json={"kind": "webhook", "sinceSeq": last, "count": 1,
                                                       "timeout": min(remaining, 30)}, timeout=remaining + 10)

    # -- faults ---------------------------------------------------------------------------------------------------

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        """Add a fault rule (docs/control-plane.md): ``add_fault(operation="send_message", status=503, times=1)``."""
        rules: list[dict[str, Any]] = self._object(self.http.post("/_sim/faults", json=rule))["rules"]
        return rules[0]

    def webhook_faults(self, *, delay_seconds: float | None = None, duplicate_probability: float | None = None,
                       reorder: bool | None = None) -> dict[str, Any]:
        knobs = {k: v for k, v in {"delaySeconds": delay_seconds, "duplicateProbability": duplicate_probability,
                                   "reorder": reorder}.items() if v is not None}
        webhooks: dict[str, Any] = self._object(self.http.post("/_sim/faults", json={"webhooks": knobs}))["webhooks"]
        return webhooks

    def faults(self) -> dict[str, Any]:
        return self._object(self.http.get("/_sim/faults"))

    def clear_faults(self) -> dict[str, Any]:
        return self._object(self.http.delete("/_sim/faults"))

    def bird_rate_limits(self, get_per_second: int | None = None, post_per_second: int | None = None, *,
                         enabled: bool = True) -> dict[str, Any]:
        """Turn Bird's per-workspace rate limits on (Bird's documented 50 GET / 500 POST per second for a value left
        out) or off (``enabled=False``); a full reset returns to the world config."""
        body: dict[str, Any] = {"enabled": enabled}
        if enabled:
            body.update({k: v for k, v in (("getPerSecond", get_per_second), ("postPerSecond", post_per_second))
                         if v is not None})
        return self._object(self.http.put("/_sim/bird/rate-limits", json=body))

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the simulator clock forward; returns after everything due by then has run."""
        return self._object(self.http.post("/_sim/clock/advance", json={"seconds": seconds}))

    def run_due(self) -> dict[str, Any]:
        return self._object(self.http.post("/_sim/clock/run-due"))

    def clock(self) -> dict[str, Any]:
        return self._object(self.http.get("/_sim/clock"))

    # -- Bird -------------------------------------------------------------------------------------------------

    @property
    def bird_key(self) -> str:
        return str(self.info()["bird"]["accessKeys"][0]["key"])

    @property
    def bird_headers(self) -> dict[str, str]:
        return {"Authorization": f"AccessKey {self.bird_key}"}

    @property
    def workspace_id(self) -> str:
        return str(self.info()["bird"]["workspaces"][0]["id"])

    def channel_id(self, index: int = 0, *, mms: bool | None = None) -> str:
        channels = self.info()["bird"]["workspaces"][0]["channels"]
        if mms is not None:
            channels = [c for c in channels if c["mms"] == mms]
        return str(channels[index]["id"])

    def messages_path(self, channel_id: str | None = None) -> str:
        return f"/workspaces/{self.workspace_id}/channels/{channel_id or self.channel_id()}/messages"

    def send_sms(self, to: str, text: str = "hello", channel_id: str | None = None, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"receiver": {"contacts": [{"identifierValue": to}]},
                                "body": {"type": "text", "text": {"text": text}}}
        body.update(extra)
        response = self.http.post(self.messages_path(channel_id), json=body, headers=self.bird_headers)
        if response.status_code != 202:
            raise AssertionError(f"send failed: {response.status_code} {response.text[:500]}")
        return self._object(response)

    def get_message(self, message_id: str, channel_id: str | None = None) -> dict[str, Any]:
        return self._object(self.http.get(f"{self.messages_path(channel_id)}/{message_id}", headers=self.bird_headers))

    def wait_for_status(self, message_id: str, status: str, timeout: float = 5.0,
                        channel_id: str | None = None) -> dict[str, Any]:
        """Poll until the message reaches ``status`` (real-clock use); fails listing the statuses seen."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            message = self.get_message(message_id, channel_id)
            if not seen or seen[-1] != message["status"]:
                seen.append(message["status"])
            if message["status"] == status:
                return message
            if time.monotonic() > deadline:
                raise AssertionError(f"message {message_id} did not reach {status!r} within {timeout} s; "
                                     f"statuses seen: {' -> '.join(seen)}")
            time.sleep(0.01)

    def force_status(self, message_id: str, status: str) -> dict[str, Any]:
        """Force a Bird message's status now (the webhook is emitted)."""
        return self._object(self.http.post(f"/_sim/bird/messages/{message_id}/status", json={"status": status}))

    # -- inbound traffic and customers (thin wrappers over the providers' control endpoints) -----------------------

    def bird_inbound(self, sender: str, text: str = "", channel_id: str | None = None,
                     **extra: Any) -> dict[str, Any]:
        """A customer texts the channel: ``POST /_sim/bird/inbound`` (``media=[...]`` for MMS)."""
        body: dict[str, Any] = {"channelId": channel_id or self.channel_id(), "from": sender, **extra}
        if text:
            body["text"] = text
        return self._control_object("POST", "/_sim/bird/inbound", body)

    def bird_click(self, message_id: str, url: str, **extra: Any) -> dict[str, Any]:
        """The receiver taps a link in a message: a ``clicked`` interaction and an sms.interaction webhook."""
        return self._control_object("POST", f"/_sim/bird/messages/{message_id}/click", {"url": url, **extra})

    def _bc_ids(self, customer: str | None, business: str | None) -> tuple[str, str]:
        bc = self.info().get("businessChat") or {}
        if not bc:
            raise AssertionError("this world has no Business Chat section")
        return (business or str(bc["businesses"][0]["id"])), (customer or str(bc["customers"][0]["id"]))

    def _customer_path(self, customer: str | None, business: str | None) -> str:
        b, c = self._bc_ids(customer, business)
        return f"/_sim/business-chat/businesses/{b}/customers/{c}"

    def customer_says(self, text: str, *, customer: str | None = None,
                      business: str | None = None) -> dict[str, Any]:
        """A Business Chat customer writes ``text`` (delivered to the business's webhook)."""
        return self._control_object("POST", self._customer_path(customer, business) + "/text", {"text": text})

    def customer_answers(self, kind: str, *, customer: str | None = None, business: str | None = None,
                         **answer: Any) -> dict[str, Any]:
        """A customer answers the last interactive message: ``customer_answers("list-picker", items=["m"])``,
        ``customer_answers("time-picker", timeslot="slot-1")``; kinds as in docs/business-chat.md."""
        return self._control_object("POST", self._customer_path(customer, business) + f"/answer/{kind}", answer)

    def customer_closes(self, *, customer: str | None = None, business: str | None = None) -> dict[str, Any]:
        return self._control_object("POST", self._customer_path(customer, business) + "/close")

    def device(self, customer: str | None = None) -> list[dict[str, Any]]:
        """What a Business Chat customer's device shows (received and sent), in order."""
        _, c = self._bc_ids(customer, None)
        messages: list[dict[str, Any]] = self._object(self.http.get(f"/_sim/business-chat/customers/{c}/device"))[
            "messages"]
        return messages

    def set_business_webhook(self, url: str, business: str | None = None) -> dict[str, Any]:
        b, _ = self._bc_ids(None, business)
        return self._control_object("POST", f"/_sim/business-chat/businesses/{b}", {"webhookUrl": url})

    def wait_for_message(self, match: Mapping[str, object] | None = None, *, timeout: float = 5.0,
                         workspace_id: str | None = None) -> dict[str, Any]:
        """Poll the workspace's Bird messages until one has ``match`` (dotted paths, e.g. ``{"direction": "incoming",
        "body.text.text": "STOP"}``); fails listing the messages there are."""
        deadline = time.monotonic() + timeout
        path = f"/workspaces/{workspace_id or self.workspace_id}/messages"
        while True:
            results: list[dict[str, Any]] = self._object(
                self.http.get(path, params={"limit": 100}, headers=self.bird_headers))["results"]
            for message in results:
                if subset_matches(message, match):
                    return message
            if time.monotonic() > deadline:
                seen = "\n".join(f"  {m.get('id')} {m.get('direction')} {m.get('status')} "
                                 f"{json.dumps(m.get('body'))[:120]}" for m in results) or "  (none)"
                raise AssertionError(f"no Bird message matching {match!r} within {timeout} s; messages:\n{seen}")
            time.sleep(0.01)

    def __enter__(self) -> SimClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe_journal(entries: list[dict[str, Any]]) -> str:
    lines = []
    for e in entries:
        status = (e.get("response") or {}).get("status")
        if e.get("kind") == "webhook":
            lines.append(f"  #{e.get('seq')} webhook {e.get('event')} -> {e.get('path')} [{status}] "
                         f"{_summary(e.get('body'))}")
        else:
            lines.append(f"  #{e.get('seq')} {e.get('method')} {e.get('path')} [{status}] {e.get('operation')}")
    return "\n".join(lines) or "  (none)"


class Simulator(SimClient):
    """The simulator without pytest: starts one in-process (or binds to ``url``) and is a :class:`SimClient`.

    >>> with Simulator(seed=7) as sim:
    ...     message = sim.send_sms("+15551230000", "hi")
    ...     sim.advance(10)
    ...     assert sim.get_message(message["id"])["status"] == "delivered"

    :param settings: full Settings for the in-process server (default: in-memory db, manual clock, free port).
    :param url: use an already-running simulator instead of starting one.
    :param config: world config YAML path; :param seed: seed; :param clock: ``manual`` (default) or ``real``.
    :param token: the control token of the simulator at ``url`` (an in-process one's comes from its settings).
    """

    def __init__(self, settings: Settings | None = None, *, url: str | None = None, config: str | None = None,
                 seed: int | None = None, clock: str | None = None, token: str | None = None) -> None:
        self._settings = settings
        self._token = token
        self._overrides: SettingsFields = {}
        if config is not None:
            self._overrides["config"] = config
        if seed is not None:
            self._overrides["seed"] = seed
        if clock is not None:
            self._overrides["clock"] = clock
        self._external = url
        self.server: SimulatorServer | None = None
        self._receivers: list[WebhookReceiver] = []
        if url:
            super().__init__(url, token=token)

    def start(self) -> Simulator:
        if self._external is None and self.server is None:
            from simulator.server import SimulatorServer
            from simulator.settings import Settings

            base = self._settings or Settings(db=":memory:", port=0, clock="manual", log_level="warning",
                                              retention="off")  # a script keeps what it made, as a test does
            self.server = SimulatorServer(base.replace(**self._overrides)).start()
            super().__init__(self.server.url, token=self._token or self.server.settings.control_token)
        return self

    def receiver(self) -> WebhookReceiver:
        """A started loopback webhook receiver, stopped with the simulator."""
        receiver = WebhookReceiver().start()
        self._receivers.append(receiver)
        return receiver

    def stop(self) -> None:
        for receiver in self._receivers:
            receiver.stop()
        self._receivers.clear()
        if hasattr(self, "http"):
            self.close()
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
