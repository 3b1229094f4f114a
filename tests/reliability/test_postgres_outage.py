"""PostgreSQL stops for ten seconds while sends keep coming: the simulator answers 503 in Bird's shape with
Retry-After (never a 500, never a hang), keeps nothing half-written, and recovers by itself when the server is back:
every acknowledged message is there, moves through its lifecycle and has its webhooks delivered."""
from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import httpx2 as httpx
import pytest

from _support import AUTH, CH, WS, rows, send_body, serve

from simulator.testing import WebhookReceiver
from simulator.testing_postgres import PostgresUnavailable, ThrowawayPostgres

pytestmark = pytest.mark.slow
OUTAGE_S = 10.0


@pytest.fixture
def own_postgres() -> ThrowawayPostgres:
    """A server of this test's own: it is stopped and started again, which the session's server must not be."""
    try:
        server = ThrowawayPostgres().start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and no PostgreSQL server can be started: {exc}", pytrace=False)
        pytest.skip(f"no PostgreSQL server can be started here: {exc}")
    yield server
    server.close()


def test_ten_seconds_without_postgresql_are_503s_then_full_recovery(tmp_path: Path,
                                                                     own_postgres: ThrowawayPostgres) -> None:
    url = own_postgres.create_database("outage")
    server = serve(url, tmp_path, tag="outage")
    answers: Counter[int] = Counter()
    acked: list[str] = []
    bad: list[str] = []
    changed = threading.Condition()
    stop = threading.Event()
    try:
        with WebhookReceiver() as receiver:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
                r = client.post(f"/workspaces/{WS}/webhook-subscriptions", json={
                    "service": "channels", "event": "sms.outbound", "url": f"{receiver.url}/hook", "signingKey": "k",
                    "eventFilters": [{"key": "messageStatus", "value": "delivered"}]})
                assert r.status_code == 201, r.text

            def load(worker: int) -> None:
                with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as http:
                    i = worker * 100_000
                    while not stop.is_set():
                        i += 1
                        r = http.post(f"/workspaces/{WS}/channels/{CH}/messages", json=send_body(i))
                        with changed:
                            answers[r.status_code] += 1
                            if r.status_code == 202:
                                acked.append(r.json()["id"])
                            elif r.status_code != 503 or r.headers.get("retry-after") != "1" \
                                    or r.json().get("code") != "ServiceUnavailable":
                                bad.append(f"{r.status_code} {r.headers.get('retry-after')} {r.text[:200]}")
                            changed.notify_all()

            threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
            for t in threads:
                t.start()

            def wait_until(predicate, limit_s: float) -> bool:
                deadline = time.monotonic() + limit_s
                with changed:
                    while not predicate():
                        if time.monotonic() > deadline:
                            return False
                        changed.wait(1)
                return True

            assert wait_until(lambda: len(acked) >= 100, 60), answers
            own_postgres.stop("fast")
            down_at = time.monotonic()
            # The outage lasts OUTAGE_S of wall time, with the load running through it.
            assert wait_until(lambda: time.monotonic() - down_at >= OUTAGE_S, OUTAGE_S + 30)
            during = answers[503]
            assert during > 0, f"no 503 while PostgreSQL was down: {answers}"
            own_postgres.start()
            before = len(acked)
            assert wait_until(lambda: len(acked) >= before + 50, 60), f"no recovery: {answers}"
            stop.set()
            for t in threads:
                t.join(30)
            assert bad == [], bad[:5]

            with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
                missing = [m for m in acked if client.get(f"/workspaces/{WS}/messages/{m}").status_code != 200]
                assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:3]}"
                r = client.post("/_sim/clock/advance", json={"seconds": 3600})
                assert r.status_code == 200, r.text
            stored = {r[0]: r[1] for r in rows(url, "SELECT id, status FROM bird_messages")}
            # Nothing half-written: every stored message (acknowledged or not) has run through its lifecycle.
            assert set(stored.values()) <= {"delivered", "delivery_failed", "sending_failed", "rejected",
                                            "skipped"}, Counter(stored.values())
            delivered = {m for m in acked if stored[m] == "delivered"}
            got = {request.json()["payload"]["id"] for request in receiver.wait_for(len(delivered), timeout=60)}
            assert delivered <= got
    finally:
        stop.set()
        server.stop()
