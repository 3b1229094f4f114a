"""Test helpers shipped with the package: a control-plane client and a real loopback webhook receiver."""
from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2 as httpx


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def raw_json(self) -> Any:
        body = self.body
        if (self.header("content-encoding") or "").lower() == "gzip":
            body = gzip.decompress(body)
        return json.loads(body)

    def json(self) -> Any:
        return self.raw_json()


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1:<free port> that records every request it gets.

    ``set_responses([500, 200])`` answers the next requests with those statuses (then 200).
    """

    host: str = "127.0.0.1"
    requests: list[ReceivedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._responses: list[int | tuple[int, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = receiver._record(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        with self._cond:
            self.requests.append(ReceivedRequest(method, path, headers, body, time.time()))
            response = self._responses.pop(0) if self._responses else 200
            self._cond.notify_all()
        if isinstance(response, tuple):
            return response
        return response, b"{}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def clear(self) -> None:
        with self._cond:
            self.requests.clear()
            self._responses.clear()

    def set_responses(self, responses: list[int | tuple[int, bytes]]) -> None:
        with self._cond:
            self._responses = list(responses)

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

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SimClient:
    """A small client for the control plane and the common provider calls, bound to one simulator URL."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout)
        self._info: dict[str, Any] | None = None

    def close(self) -> None:
        self.http.close()

    # -- control plane ------------------------------------------------------------------------------------------

    def _ok(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise AssertionError(f"{response.request.method} {response.request.url} -> {response.status_code}: "
                                 f"{response.text[:500]}")
        return response.json() if response.content else None

    def health(self) -> dict[str, Any]:
        return self._ok(self.http.get("/_sim/health"))  # type: ignore[no-any-return]

    def info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self._ok(self.http.get("/_sim/info"))
        return self._info

    def reset(self, **scope: str) -> dict[str, Any]:
        return self._ok(self.http.post("/_sim/reset", json=scope))  # type: ignore[no-any-return]

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the simulator clock forward; returns after everything due by then has run."""
        return self._ok(self.http.post("/_sim/clock/advance", json={"seconds": seconds}))  # type: ignore[no-any-return]

    def run_due(self) -> dict[str, Any]:
        return self._ok(self.http.post("/_sim/clock/run-due"))  # type: ignore[no-any-return]

    def clock(self) -> dict[str, Any]:
        return self._ok(self.http.get("/_sim/clock"))  # type: ignore[no-any-return]

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
        body = {"receiver": {"contacts": [{"identifierValue": to}]}, "body": {"type": "text", "text": {"text": text}}}
        body.update(extra)
        response = self.http.post(self.messages_path(channel_id), json=body, headers=self.bird_headers)
        if response.status_code != 202:
            raise AssertionError(f"send failed: {response.status_code} {response.text[:500]}")
        return response.json()  # type: ignore[no-any-return]

    def get_message(self, message_id: str, channel_id: str | None = None) -> dict[str, Any]:
        return self._ok(self.http.get(f"{self.messages_path(channel_id)}/{message_id}",  # type: ignore[no-any-return]
                                      headers=self.bird_headers))

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

    def __enter__(self) -> SimClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
