"""Limits: body cap (413 in each provider's shape), bounded outbox retention, and slow or hanging webhook
receivers never block the API (delivery timeouts and the concurrency cap hold)."""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from _support import AUTH, CH, ORG, WS

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import WebhookReceiver


def test_body_cap_answers_413_in_the_provider_shape(db, tmp_path: Path) -> None:
    with SimulatorServer(Settings(db=db("l"), clock="manual", port=0, max_body_bytes=64 * 1024)) as s:
        big = b'{"x": "' + b"a" * (200 * 1024) + b'"}'
        with httpx.Client(base_url=s.url, timeout=10) as client:
            r = client.post(f"/workspaces/{WS}/channels/{CH}/messages", content=big,
                            headers={**AUTH, "content-type": "application/json"})
            assert r.status_code == 413 and set(r.json()) >= {"code", "message"}, r.text[:200]
            r = client.post("/_sim/clock/advance", content=big, headers={"content-type": "application/json"})
            assert r.status_code == 413 and "error" in r.json(), r.text[:200]

            def chunks():  # no Content-Length: the cap must hold while streaming too
                for _ in range(20):
                    yield b"a" * 16 * 1024

            r = client.post(f"/workspaces/{WS}/channels/{CH}/messages", content=chunks(),
                            headers={**AUTH, "content-type": "application/json"})
            assert r.status_code == 413
            assert client.get(f"/workspaces/{WS}/messages", headers=AUTH).json()["results"] == []


def test_outbox_retention_deletes_old_finished_rows(db, tmp_path: Path) -> None:
    with SimulatorServer(Settings(db=db("r"), clock="manual", port=0, retention="outbox=7d",
                                  retention_interval=0)) as s:
        sim = s.sim

        async def fill() -> None:
            async with sim.store.transaction() as tx:
                for i in range(5):
                    await sim.outbox.enqueue(tx, provider="t", event="e", url="http://127.0.0.1:9/x", headers={},
                                             body=b"{}", request_id=f"r{i}")
                await tx.execute("UPDATE outbox SET status='delivered'")
                await tx.execute("UPDATE outbox SET status='cancelled' WHERE id > 3")  # e.g. subscription deleted
        sim.scheduler.paused = True
        s.call(fill())
        assert s.call(sim.retention.sweep())["outbox"] == 0  # not old yet
        sim.clock.set(sim.clock.now_ms() + 8 * 86400 * 1000)
        assert s.call(sim.retention.sweep())["outbox"] == 5
        assert s.call(sim.outbox.stats()) == {"pending": 0, "delivered": 0, "failed": 0, "cancelled": 0}


class _HangingReceiver:
    """Accepts connections, reads the request, never answers. Counts concurrent connections.

    One thread, one selector; before each new connection is counted, every hang-up already queued is handled: a
    client that closes one connection and then opens another (as a capped client must) is never counted twice.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.open = 0
        self.max_open = 0
        self.stop = threading.Event()
        self.changed = threading.Event()  # set on each new connection
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        import selectors

        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ)

        def hang_ups(timeout: float) -> bool:
            """Read every connection that is ready, closing those the client hung up; True if the listener is."""
            ready = [key.fileobj for key, _ in selector.select(timeout=timeout)]
            for conn in [c for c in ready if c is not self.sock]:
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if data == b"":  # the client hung up
                    selector.unregister(conn)
                    conn.close()
                    self.open -= 1
            return self.sock in ready

        try:
            while not self.stop.is_set():
                if hang_ups(0.1):
                    while True:
                        try:
                            conn, _ = self.sock.accept()
                        except (BlockingIOError, OSError):
                            break
                        # A connection the client closed before opening this one has its hang-up queued by now
                        # (loopback): count it gone first, or a capped client would look like it overlapped.
                        hang_ups(0)
                        conn.setblocking(False)
                        selector.register(conn, selectors.EVENT_READ)
                        self.open += 1
                        self.max_open = max(self.max_open, self.open)
                        self.changed.set()
        finally:
            for key in list(selector.get_map().values()):
                key.fileobj.close()
            selector.close()

    def close(self) -> None:
        self.stop.set()


def _enqueue(server: SimulatorServer, port: int, count: int, spacing_s: float = 0.0) -> None:
    """``count`` webhooks to the receiver on ``port``, straight into the outbox; the i-th due i × spacing_s later."""
    sim = server.sim

    async def fill() -> None:
        async with sim.store.transaction() as tx:
            for i in range(count):
                await sim.outbox.enqueue(tx, provider="t", event="e", url=f"http://127.0.0.1:{port}/h",
                                         headers={"content-type": "application/json"}, body=b"{}",
                                         request_id=f"r{i}", delay_s=spacing_s * (i + 1))
    server.call(fill())


@pytest.mark.slow
def test_hanging_receiver_never_blocks_the_api(db, tmp_path: Path) -> None:
    receiver = _HangingReceiver()
    settings = Settings(db=db("h"), clock="manual", port=0, webhook_timeout=1.5,
                        webhook_concurrency=4)
    try:
        with SimulatorServer(settings) as s:
            sim = s.sim
            _enqueue(s, receiver.port, 12)
            delivering = asyncio.run_coroutine_threadsafe(sim.scheduler.run_due(), s._loop)  # noqa: SLF001
            deadline = time.monotonic() + 10
            while receiver.open < 4 and time.monotonic() < deadline:  # the outbox is stuck on the receiver
                receiver.changed.wait(0.1)
                receiver.changed.clear()
            assert receiver.open == 4, receiver.open
            with httpx.Client(base_url=s.url, timeout=5) as client:
                for i in range(10):
                    t0 = time.perf_counter()
                    r = client.post(f"/workspaces/{WS}/channels/{CH}/messages", headers=AUTH, json={
                        "receiver": {"contacts": [{"identifierValue": "+31612345678"}]},
                        "body": {"type": "text", "text": {"text": f"still fast {i}"}}})
                    assert r.status_code == 202
                    # Waiting on a receiver would take the 1.5 s webhook timeout; a busy CI host can take 0.5 s.
                    assert time.perf_counter() - t0 < 1.0, "the API waited on a hanging webhook receiver"
                    assert client.get("/_sim/health").status_code == 200
            delivering.result(timeout=20)  # 12 deliveries / 4 at a time x 1.5 s timeout ≈ 4.5 s, not 30 s each
            assert receiver.max_open <= 4, f"concurrency cap broken: {receiver.max_open} open connections"
            stats = s.call(sim.outbox.stats())
            assert stats["pending"] == 12  # all timed out; each is scheduled for a retry, none lost
            rows = s.call(sim.store.fetch_all("SELECT error FROM outbox_attempts"))
            assert len(rows) == 12 and all(r[0] == "timeout" for r in rows), [r[0] for r in rows][:3]
    finally:
        receiver.close()


@pytest.mark.parametrize("clock", ["manual", "real"])
def test_deliveries_due_at_different_times_go_out_concurrently(db, tmp_path: Path, clock: str) -> None:
    """A real clock gives every webhook its own due time (so does an advance over a busy span): they must still
    share the concurrency cap, not wait for each other. Before, each due time was its own batch: a receiver
    taking 100 ms got 10 webhooks a second, whatever the cap."""
    receiver = _HangingReceiver()
    settings = Settings(db=db("c"), clock=clock, port=0, webhook_timeout=1.0, webhook_concurrency=4)
    try:
        with SimulatorServer(settings) as s:
            sim = s.sim
            _enqueue(s, receiver.port, 8, spacing_s=0.001)
            running = None
            if clock == "manual":  # the advance runs them; with a real clock the background loop does
                running = asyncio.run_coroutine_threadsafe(sim.scheduler.advance(1), s._loop)  # noqa: SLF001
            deadline = time.monotonic() + 5
            while receiver.open < 4 and time.monotonic() < deadline:
                receiver.changed.wait(0.1)
                receiver.changed.clear()
            assert receiver.open == 4, f"{receiver.open} delivery at a time: due times serialised them"
            if running is not None:
                running.result(timeout=20)  # 8 deliveries, 4 at a time, 1 s timeout each
            assert receiver.max_open <= 4, receiver.max_open
    finally:
        receiver.close()


def test_a_stalled_subscriber_holds_up_no_other_webhook_and_no_transition(db, tmp_path: Path) -> None:
    """Real clock: one subscriber never answers (a handler paused in a debugger), with a 30 s timeout. Before, each
    scheduler batch waited for it: the healthy subscriber's 20 webhooks took 29 s, and every status with them."""
    stalled = _HangingReceiver()
    healthy = WebhookReceiver().start()
    settings = Settings(db=db("s"), clock="real", clock_speed=10, port=0, webhook_timeout=30)
    try:
        with SimulatorServer(settings) as s, httpx.Client(base_url=s.url, headers=AUTH, timeout=10) as client:
            subs = f"/organizations/{ORG}/workspaces/{WS}/webhook-subscriptions"
            for url in (f"http://127.0.0.1:{stalled.port}/h", healthy.url):
                r = client.post(subs, json={"service": "channels", "event": "sms.outbound", "url": url,
                                            "signingKey": "k"})
                assert r.status_code == 201, r.text
            ids = []
            for i in range(5):
                r = client.post(f"/workspaces/{WS}/channels/{CH}/messages", json={
                    "receiver": {"contacts": [{"identifierValue": f"+3161234567{i}0"}]},
                    "body": {"type": "text", "text": {"text": "hi"}}})
                assert r.status_code == 202, r.text
                ids.append(r.json()["id"])
            # accepted, processing, sent, delivered: 0.42 s of wall time at speed 10, far inside the 30 s timeout
            healthy.wait_for(20, timeout=10)
            statuses = {client.get(f"/workspaces/{WS}/channels/{CH}/messages/{i}").json()["status"] for i in ids}
            assert statuses == {"delivered"}
            assert stalled.open >= 1  # the stalled subscriber still holds its first delivery
    finally:
        healthy.stop()
        stalled.close()


class _RudeReceiver:
    """Answers each connection in one of several broken ways, chosen by the request path."""

    REPLIES = {
        b"/garbage": b"this is not HTTP at all\r\n\r\n",
        b"/close": b"",  # closes without a byte
        b"/bad-status": b"HTTP/1.1 abc Nope\r\ncontent-length: 0\r\n\r\n",
        b"/endless": None,  # 200, chunked, a body that never ends (until the client hangs up)
        b"/huge-header": b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 200_000 + b"\r\ncontent-length: 0\r\n\r\n",
    }

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            request = conn.recv(65536)
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            reply = self.REPLIES.get(path, b"")
            if reply is None:
                conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    conn.sendall(b"400\r\n" + b"z" * 1024 + b"\r\n")
            elif reply:
                conn.sendall(reply)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_broken_receivers_are_logged_and_retried_never_crash(db, tmp_path: Path) -> None:
    receiver = _RudeReceiver()
    settings = Settings(db=db("b"), clock="manual", port=0, webhook_timeout=2)
    try:
        with SimulatorServer(settings) as s:
            sim = s.sim
            paths = list(_RudeReceiver.REPLIES)

            async def fill() -> None:
                async with sim.store.transaction() as tx:
                    for path in paths:
                        await sim.outbox.enqueue(tx, provider="t", event="e", headers={}, body=b"{}",
                                                 url=f"http://127.0.0.1:{receiver.port}{path.decode()}",
                                                 request_id=path.decode())
            sim.scheduler.paused = True
            s.call(fill())
            s.call(sim.scheduler.run_due(), timeout=30)
            rows = s.call(sim.store.fetch_all(
                "SELECT o.request_id, o.status, a.status_code, a.error, length(a.response_body) FROM outbox o"
                " JOIN outbox_attempts a ON a.outbox_id = o.id ORDER BY o.id"))
            by_path = {r[0]: r[1:] for r in rows}
            assert set(by_path) == {p.decode() for p in paths}, rows  # every delivery was attempted and logged
            for path in ("/garbage", "/close", "/bad-status", "/huge-header"):
                status, code, error, _ = by_path[path]
                assert status == "pending" and code is None and error, (path, by_path[path])  # a retry is queued
            assert by_path["/garbage"][2].startswith("invalid HTTP response from the receiver: Bad status line")
            assert by_path["/close"][2] == "ServerDisconnectedError: Server disconnected"
            status, code, _, body_chars = by_path["/endless"]
            assert status == "delivered" and code == 200 and body_chars == 2000  # read no further than the log shows
            with httpx.Client(base_url=s.url, timeout=10) as client:
                assert client.get("/_sim/health").status_code == 200
                assert client.get(f"/workspaces/{WS}/channels/{CH}", headers=AUTH).status_code == 200
    finally:
        receiver.close()
