"""Benchmark 5: signed webhook deliveries per second to a loopback receiver (target >= 1,000/s), outbox durable
(file db, WAL). The receiver is bench/baseline_app.py in its own process (it checks each HMAC-SHA256 signature and
shares no GIL with the simulator). Three figures, each against raw aiohttp (the outbox's client) POSTing the same
bodies at the same concurrency, nothing stored:

* core outbox: 5,000 signed events enqueued in-process (sim.outbox.enqueue), then delivered by one run of the
  scheduler; holds for every provider.
* slow receiver: a receiver taking 100 ms per webhook, a real clock, each webhook due at its own millisecond.
* Bird end to end: messages sent through the batch API with a signed subscription to every ``sms.outbound`` event;
  their deliveries are held back (delaySeconds) while the lifecycle runs, then one clock advance releases
  them all (4 status events a message) and is timed until it answers, which it does once every delivery is done.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp
import httpx2 as httpx

import common

SECRET = b"bench-signing-key"


def _signed(i: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"service": "channels", "event": "sms.outbound", "payload": {
        "id": f"msg-{i}", "status": "delivered", "channelId": common.CH_NL}}).encode()
    sig = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest()).decode()
    return body, {"content-type": "application/json", "x-bench-signature": sig}


def run(events: int = 5000, runs: int = 3, messages: int = 2000) -> dict[str, Any]:
    from simulator.server import SimulatorServer
    from simulator.settings import Settings

    receiver = common.start_baseline()
    sim_rates, base_rates = [], []
    with common.stopping(receiver), httpx.Client(timeout=10) as client:
        url = f"{receiver.url}/hook"
        for _ in range(runs):
            db = common.temp_db("bench-webhooks")
            with SimulatorServer(Settings(db=db, clock="manual", port=0, log_level="warning")) as server:
                sim = server.sim
                client.post(f"{receiver.url}/reset")

                async def enqueue() -> None:
                    async with sim.store.transaction() as tx:
                        for i in range(events):
                            body, headers = _signed(i)
                            await sim.outbox.enqueue(tx, provider="bench", event="sms.outbound", url=url,
                                                     headers=headers, body=body, request_id=f"r{i}")
                # Pause the background loop so enqueue + delivery are timed apart.
                sim.scheduler.paused = True
                server.call(enqueue())
                t0 = time.perf_counter()
                server.call(sim.scheduler.run_due(), timeout=300)
                elapsed = time.perf_counter() - t0
                stats = server.call(sim.outbox.stats())
                got = client.get(f"{receiver.url}/hook/count").json()
                assert stats["delivered"] == events and got["hooks"] == events and not got["bad_signatures"], (
                    stats, got)
                sim_rates.append(events / elapsed)
            common.discard(db)
            client.post(f"{receiver.url}/reset")

            base_rates.append(asyncio.run(_direct(url, events)))
        slow = _slow_receiver(receiver.url, client, runs)
        bird = _bird_end_to_end(receiver.url, client, runs, messages)
    result = {"events": events, "deliveries_per_s": common.median(sim_rates),
              "limit_per_s": common.median(base_rates), "via": "core outbox (in-process enqueue)", "slow": slow,
              "bird": bird}
    result["ratio"] = common.ratio(result["deliveries_per_s"], result["limit_per_s"])
    bird["ratio"] = common.ratio(bird["deliveries_per_s"], result["limit_per_s"])
    result["targets"] = {">= 1,000 signed deliveries/s": common.verdict(result["deliveries_per_s"] >= 1000)}
    return result


async def _direct(url: str, events: int, concurrency: int = 32) -> float:
    """The same bodies POSTed straight with aiohttp (the outbox's client), same concurrency cap, nothing stored."""
    connector = aiohttp.TCPConnector(limit=2 * concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            body, headers = _signed(i)
            async with sem, session.post(url, data=body, headers=headers) as r:
                await r.read()
                assert r.status == 204

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(events)))
        return events / (time.perf_counter() - t0)


def _slow_receiver(base: str, client: httpx.Client, runs: int, events: int = 320, ms: int = 100) -> dict[str, Any]:
    """A receiver taking ``ms`` per webhook, a real clock, each webhook due at its own millisecond (as live traffic
    makes them): deliveries/s against raw aiohttp at the same concurrency (32). One at a time would be 10/s."""
    from simulator.server import SimulatorServer
    from simulator.settings import Settings

    url = f"{base}/slow-hook?ms={ms}"
    sim_rates, base_rates = [], []
    for _ in range(runs):
        client.post(f"{base}/reset")
        db = common.temp_db("bench-slow-hook")
        with SimulatorServer(Settings(db=db, clock="real", port=0, log_level="warning")) as server:
            sim = server.sim

            async def enqueue() -> None:
                async with sim.store.transaction() as tx:
                    for i in range(events):
                        body, headers = _signed(i)
                        await sim.outbox.enqueue(tx, provider="bench", event="sms.outbound", url=url,
                                                 headers=headers, body=body, request_id=f"r{i}",
                                                 delay_s=0.001 * i)
            t0 = time.perf_counter()
            server.call(enqueue())
            deadline = t0 + 120
            while client.get(f"{base}/hook/count").json()["hooks"] < events and time.perf_counter() < deadline:
                time.sleep(0.01)
            sim_rates.append(events / (time.perf_counter() - t0))
        common.discard(db)
        client.post(f"{base}/reset")
        base_rates.append(asyncio.run(_direct(url, events)))
    out = {"events": events, "receiver_ms": ms, "deliveries_per_s": common.median(sim_rates),
           "limit_per_s": common.median(base_rates)}
    out["ratio"] = common.ratio(out["deliveries_per_s"], out["limit_per_s"])
    return out


def _bird_end_to_end(base: str, client: httpx.Client, runs: int, messages: int) -> dict[str, Any]:
    """Bird's own path: batch sends, a signed subscription, the lifecycle's 4 status events a message; deliveries
    held back until one advance releases them all, timed until it answers (it waits for every delivery)."""
    from simulator.server import SimulatorServer
    from simulator.settings import Settings

    org = "0b3f5e2a-0000-4000-8000-00000000b1d0"
    rates = []
    for _ in range(runs):
        client.post(f"{base}/reset")
        db = common.temp_db("bench-bird-hooks")
        with SimulatorServer(Settings(db=db, clock="manual", port=0, log_level="warning")) as server, \
                httpx.Client(base_url=server.url, timeout=300) as sim:
            sim.post(f"/organizations/{org}/workspaces/{common.WS}/webhook-subscriptions", headers=common.AUTH,
                     json={"service": "channels", "event": "sms.outbound", "url": f"{base}/bird-hook",
                           "signingKey": "bench-signing-key"}).raise_for_status()
            sim.put("/_sim/webhooks", json={"delaySeconds": 3600}).raise_for_status()
            for start in range(0, messages, 100):
                batch = [{"receiver": {"contacts": [{"identifierValue": f"+3161{(start + i) % 100000:05d}0"}]},
                          "body": {"type": "text", "text": {"text": f"Your code is {start + i}"}}}
                         for i in range(min(100, messages - start))]
                sim.post(f"/workspaces/{common.WS}/channels/{common.CH_NL}/batch/messages", headers=common.AUTH,
                         json={"messageRequests": batch}).raise_for_status()
            sim.post("/_sim/clock/advance", json={"seconds": 10}).raise_for_status()  # every lifecycle done
            t0 = time.perf_counter()
            sim.post("/_sim/clock/advance", json={"seconds": 3600}).raise_for_status()
            elapsed = time.perf_counter() - t0
            got = client.get(f"{base}/hook/count").json()
            assert got["bird_hooks"] == messages * 4, (got, messages * 4)
            rates.append(messages * 4 / elapsed)
        common.discard(db)
    return {"messages": messages, "events": messages * 4, "deliveries_per_s": common.median(rates)}


def report(r: dict[str, Any]) -> list[str]:
    return ["## Webhooks (signed, durable outbox → loopback receiver)",
            f"{r['deliveries_per_s']:.0f} deliveries/s over {r['events']} events via {r['via']}; raw aiohttp at the"
            f" same concurrency {r['limit_per_s']:.0f}/s; ratio {r['ratio']}",
            *[f"target {k}: {v}" for k, v in r["targets"].items()],
            f"slow receiver ({r['slow']['receiver_ms']} ms a webhook), real clock, each webhook due at its own"
            f" millisecond: {r['slow']['deliveries_per_s']:.0f} deliveries/s over {r['slow']['events']}; raw aiohttp"
            f" at the same concurrency {r['slow']['limit_per_s']:.0f}/s; ratio {r['slow']['ratio']}",
            f"Bird end to end ({r['bird']['messages']} batch sends x 4 status events, signed subscription):"
            f" {r['bird']['deliveries_per_s']:.0f} deliveries/s; ratio {r['bird']['ratio']} to the raw aiohttp"
            " figure above"]
