"""Everything at once against one server: sends, batches, inbound, forced outcomes, Business Chat traffic, webhook
subscriptions, fault rules, resets (full and scoped), advances and run-dues. No 5xx, no error in the server's log,
and once it settles the state holds together.

A longer run of this storm (20 s, more senders) found the races that now have deterministic tests in
tests/bird/test_advance_under_traffic.py (a send racing a full reset: a 500; advances chasing traffic). This short
one is the net for what mixing everything may break next; it does not reliably reproduce those two."""
from __future__ import annotations

import asyncio
import base64
import random
import sqlite3
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx2 as httpx
import jwt
import pytest

from _support import AUTH, ORG, WS, serve

from simulator.testing import WebhookReceiver

pytestmark = pytest.mark.slow

CHANNELS = ["7c0f4a8e-0000-4000-8000-00000000c001", "7c0f4a8e-0000-4000-8000-00000000c002"]
SUBS = f"/organizations/{ORG}/workspaces/{WS}/webhook-subscriptions"
STORM_S = 6.0


def _sms(number: str, text: str = "storm") -> dict:
    return {"receiver": {"contacts": [{"identifierValue": number}]}, "body": {"type": "text", "text": {"text": text}}}


async def _storm(url: str, hook: str, rnd: random.Random) -> tuple[Counter, list[str]]:
    seen: Counter = Counter()
    problems: list[str] = []
    sent: list[tuple[str, str]] = []
    limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def call(method: str, path: str, **kwargs) -> httpx.Response | None:
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                problems.append(f"{method} {path}: {exc!r}")
                return None
            seen[response.status_code] += 1
            if response.status_code >= 500 and "injected fault" not in response.text:
                problems.append(f"{method} {path}: {response.status_code} {response.text[:300]}")
            return response

        await call("PUT", "/_sim/bird/rate-limits", json={"getPerSecond": 10**6, "postPerSecond": 10**6})
        bc = (await client.get("/_sim/business-chat")).json()
        customers = [c["id"] for c in (await client.get("/_sim/business-chat/customers")).json()["customers"]]
        business = bc["businesses"][0]  # GET /_sim/business-chat lists business ids
        secret = base64.b64decode(bc["secret"])
        start_s = (await client.get("/_sim/clock")).json()["nowMs"] // 1000
        stop = time.monotonic() + STORM_S

        async def sender() -> None:
            while time.monotonic() < stop:
                channel = rnd.choice(CHANNELS)
                body = _sms(f"+3161234{rnd.randrange(10000):04d}{rnd.choice('0123456789')}")
                if rnd.random() < 0.1:
                    at = start_s + rnd.randrange(3600, 20 * 86400)
                    body["scheduledFor"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
                r = await call("POST", f"/workspaces/{WS}/channels/{channel}/messages", json=body, headers=AUTH)
                if r is not None and r.status_code == 202:
                    sent.append((channel, r.json()["id"]))

        async def batcher() -> None:
            while time.monotonic() < stop:
                items = [_sms(f"+3161234{rnd.randrange(10000):04d}1") for _ in range(rnd.randrange(1, 20))]
                await call("POST", f"/workspaces/{WS}/channels/{rnd.choice(CHANNELS)}/batch/messages",
                           json={"messageRequests": items}, headers=AUTH)

        async def inbound() -> None:
            while time.monotonic() < stop:
                await call("POST", "/_sim/bird/inbound", json={
                    "channelId": rnd.choice(CHANNELS), "from": f"+3161234{rnd.randrange(10000):04d}2",
                    "text": "STOP" if rnd.random() < 0.1 else "hello"})

        async def poker() -> None:
            while time.monotonic() < stop:
                await asyncio.sleep(0)  # let the senders fill `sent`
                if not sent:
                    continue
                channel, message_id = rnd.choice(sent)
                await call("POST", f"/_sim/bird/messages/{message_id}/status",
                           json={"status": rnd.choice(["delivered", "delivery_failed", "sent"])})
                await call("GET", f"/workspaces/{WS}/channels/{channel}/messages/{message_id}", headers=AUTH)
                await call("POST", f"/_sim/bird/messages/{message_id}/click", json={"url": "https://example.com"})

        async def resetter() -> None:
            while time.monotonic() < stop:
                await call("GET", "/_sim/health")  # paced by round trips: a reset every few of them
                if rnd.random() < 0.7:
                    continue
                scopes = [{"workspace": WS}, {"channel": rnd.choice(CHANNELS)}, {"customer": rnd.choice(customers)},
                          {"business": business}]
                if time.monotonic() < stop - STORM_S / 3:  # no full reset at the end: what the rest did stays
                    scopes.append({})
                scope = rnd.choice(scopes)
                await call("POST", "/_sim/reset", json=scope)

        async def clock() -> None:
            while time.monotonic() < stop:
                await call("POST", "/_sim/clock/advance", json={"seconds": rnd.choice([0.5, 5, 60, 3600])})
                await call("POST", "/_sim/clock/run-due")

        async def reader() -> None:
            while time.monotonic() < stop:
                channel = rnd.choice(CHANNELS)
                await call("GET", f"/workspaces/{WS}/channels/{channel}/messages",
                           params={"limit": 50, "status": rnd.choice(["accepted", "delivered"])}, headers=AUTH)
                await call("GET", f"/workspaces/{WS}/contacts", params={"limit": 20}, headers=AUTH)
                await call("GET", "/_sim/journal", params={"limit": 20})

        async def business_chat() -> None:
            while time.monotonic() < stop:
                customer = rnd.choice(customers)
                token = jwt.encode({"iss": bc["mspId"], "iat": int(time.time())}, secret, algorithm="HS256")
                message_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
                await call("POST", "/v1/message", json={
                    "v": 1, "id": message_id, "sourceId": business, "destinationId": customer, "type": "text",
                    "body": "hello"}, headers={"authorization": f"Bearer {token}", "source-id": business,
                                               "destination-id": customer, "id": message_id})
                base = f"/_sim/business-chat/businesses/{business}/customers/{customer}"
                await call("POST", base + ("/text" if rnd.random() < 0.8 else "/close"), json={"text": "hi"})

        async def chaos() -> None:
            while time.monotonic() < stop:
                await call("GET", "/_sim/faults")  # paced by a round trip
                pick = rnd.random()
                if pick < 0.25:
                    await call("POST", SUBS, headers=AUTH, json={
                        "service": "channels", "url": hook, "signingKey": "storm-key",
                        "event": rnd.choice(["sms.outbound", "sms.inbound", "sms.interaction"])})
                    await call("POST", f"/_sim/business-chat/businesses/{business}", json={"webhookUrl": hook})
                elif pick < 0.4:
                    await call("POST", "/_sim/faults", json={"provider": "bird", "method": "POST", "status": 503,
                                                             "probability": 0.05})
                elif pick < 0.55:
                    await call("DELETE", "/_sim/faults")
                elif pick < 0.65:
                    await call("DELETE", "/_sim/journal")
                elif pick < 0.8:
                    await call("PUT", "/_sim/webhooks", json={
                        "duplicateProbability": 0.2, "reorder": rnd.random() < 0.5, "reorderWindowSeconds": 2})
                else:
                    listed = await call("GET", SUBS, headers=AUTH)
                    if listed is not None and listed.status_code == 200:
                        for sub in listed.json().get("results", [])[:2]:
                            await call("DELETE", f"{SUBS}/{sub['id']}", headers=AUTH)

        await asyncio.gather(*[sender() for _ in range(6)], batcher(), inbound(), poker(), resetter(), clock(),
                             clock(), reader(), business_chat(), business_chat(), chaos())
        await call("DELETE", "/_sim/faults")
        for _ in range(3):  # settle: every lifecycle runs to its end
            await call("POST", "/_sim/clock/advance", json={"seconds": 3 * 86400})
    return seen, problems


def test_a_storm_of_everything_leaves_no_5xx_and_consistent_state(tmp_path: Path) -> None:
    seed = 1
    db = tmp_path / "storm.db"
    server = serve(db, tmp_path, tag=f"storm{seed}")
    receiver = WebhookReceiver().start()
    try:
        seen, problems = asyncio.run(_storm(server.url, receiver.url, random.Random(seed)))
    finally:
        server.stop()
        receiver.stop()
    assert not problems, "\n".join(problems[:10])
    assert sum(seen.values()) > 500 and seen[202] > 100, seen  # the storm really ran
    log = server.err.read_text(errors="replace") + server.out.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    raw = sqlite3.connect(db)
    orphan_jobs = raw.execute("SELECT COUNT(*) FROM jobs j WHERE kind='bird.transition' AND NOT EXISTS"
                              " (SELECT 1 FROM bird_messages m WHERE m.id = j.ref)").fetchone()[0]
    stuck = raw.execute("SELECT COUNT(*) FROM bird_messages m WHERE direction='outgoing' AND status IN"
                        " ('accepted', 'processing') AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.ref = m.id)"
                        ).fetchone()[0]
    waiting = raw.execute("SELECT COUNT(*) FROM bird_messages m WHERE status = 'scheduled' AND NOT EXISTS"
                          " (SELECT 1 FROM jobs j WHERE j.ref = m.id)").fetchone()[0]
    unfinished = raw.execute("SELECT COUNT(*) FROM bird_messages WHERE status IN ('accepted', 'processing')"
                             ).fetchone()[0]
    orphan_history = raw.execute("SELECT COUNT(*) FROM bird_status_history h WHERE NOT EXISTS"
                                 " (SELECT 1 FROM bird_messages m WHERE m.id = h.message_id)").fetchone()[0]
    assert (orphan_jobs, stuck, waiting, unfinished, orphan_history) == (0, 0, 0, 0, 0)
