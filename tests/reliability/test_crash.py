"""kill -9 under load, restart on the same db: nothing acknowledged is lost, every due transition still runs."""
from __future__ import annotations

import threading
from pathlib import Path

import httpx2 as httpx
import pytest

from _support import AUTH, CH, WS, rows, send_body, serve

from simulator.testing import WebhookReceiver

pytestmark = pytest.mark.slow


def test_kill9_under_load_loses_nothing_acknowledged(tmp_path: Path, db) -> None:
    db = db("crash")
    server = serve(db, tmp_path, tag="first")
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as client:
            i = worker * 10_000
            while not stop.is_set():
                i += 1
                try:
                    r = client.post(f"/workspaces/{WS}/channels/{CH}/messages", json=send_body(i))
                except httpx.HTTPError:
                    return  # the server died mid-request: that message was never acknowledged
                if r.status_code == 202:
                    with lock:
                        acked.append(r.json()["id"])

    threads = [threading.Thread(target=load, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    deadline = __import__("time").monotonic() + 20
    while len(acked) < 300 and __import__("time").monotonic() < deadline:
        __import__("time").sleep(0.01)
    server.kill9()  # under load: requests are in flight right now
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) >= 300, f"only {len(acked)} sends acknowledged before the kill"

    outbox_before = {r[0] for r in rows(db, "SELECT id FROM outbox")}
    pending_jobs_before = rows(db, "SELECT COUNT(*) FROM jobs")[0][0]
    assert pending_jobs_before >= len(acked)  # every accepted message has its next transition persisted

    server = serve(db, tmp_path, tag="second")
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
            missing = [m for m in acked if client.get(f"/workspaces/{WS}/messages/{m}").status_code != 200]
            assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:3]}"
            r = client.post("/_sim/clock/advance", json={"seconds": 3600})
            assert r.status_code == 200, r.text
            statuses = {}
            for m in acked:
                status = client.get(f"/workspaces/{WS}/messages/{m}").json()["status"]
                statuses[status] = statuses.get(status, 0) + 1
            assert set(statuses) <= {"delivered", "delivery_failed", "sending_failed", "rejected", "skipped"}, statuses
            clock = client.get("/_sim/clock").json()
            assert clock["nextDueMs"] is None or clock["nextDueMs"] > clock["nowMs"]
    finally:
        server.stop()
    outbox_after = {r[0] for r in rows(db, "SELECT id FROM outbox")}
    # Webhook events written before the crash survive it (delivered at least once, or still pending for retry).
    assert outbox_before <= outbox_after


def test_a_delivery_in_flight_at_kill9_is_delivered_after_the_restart(tmp_path: Path, db,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The background loop leaves a delivery running with its job parked far in the future; killed then, the job
    must come back on the next start (at least once), not wait out the parking."""
    db = db("inflight")
    monkeypatch.setenv("PROVIDER_SIM_WEBHOOK_TIMEOUT", "60")  # still on the wire when the kill comes
    with WebhookReceiver() as receiver:
        receiver.hold(max_seconds=60)  # the first delivery gets no answer before the kill
        server = serve(db, tmp_path, tag="inflight-first")
        try:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
                r = client.post(f"/workspaces/{WS}/webhook-subscriptions", json={
                    "service": "channels", "event": "sms.outbound", "url": f"{receiver.url}/hook",
                    "signingKey": "k", "eventFilters": [{"key": "messageStatus", "value": "accepted"}]})
                assert r.status_code == 201, r.text
                message = client.post(f"/workspaces/{WS}/channels/{CH}/messages", json=send_body(1)).json()["id"]
                receiver.wait_for(1, timeout=10)  # the delivery is on the wire, its job parked
            parked = rows(db, "SELECT COUNT(*) FROM jobs WHERE kind='outbox.deliver' AND due_at >= ?",
                          (1 << 60,))[0][0]
            assert parked == 1
            server.kill9()
        finally:
            server.stop()
        receiver.clear()  # the same URL, answering now
        server = serve(db, tmp_path, tag="inflight-second")
        try:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                assert client.post("/_sim/clock/run-due").status_code == 200
            got = [request.body for request in receiver.requests]
            assert len(got) >= 1 and message.encode() in got[0]
        finally:
            server.stop()
