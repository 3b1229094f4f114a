"""Benchmark 5: signed webhook deliveries per second to a loopback receiver (target >= 1,000/s), outbox durable
(file db, WAL). Measured through the core outbox (sim.outbox.enqueue in-process, then the scheduler delivers),
so it holds for every provider; the receiver (a separate process) checks each HMAC-SHA256 signature.
Baseline: the same bodies POSTed straight with aiohttp (the outbox's client) at the same concurrency (the HTTP
client's limit)."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import tempfile
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


def run(events: int = 5000, runs: int = 3) -> dict[str, Any]:
    from simulator.server import SimulatorServer
    from simulator.settings import Settings

    receiver = common.start_baseline()
    sim_rates, base_rates = [], []
    with common.stopping(receiver), httpx.Client(timeout=10) as client:
        url = f"{receiver.url}/hook"
        for _ in range(runs):
            db = tempfile.mktemp(prefix="bench-webhooks-", suffix=".db")
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
            client.post(f"{receiver.url}/reset")

            async def direct() -> float:
                # The same client the outbox delivers with (aiohttp), same concurrency cap, nothing stored.
                connector = aiohttp.TCPConnector(limit=64, limit_per_host=32)
                async with aiohttp.ClientSession(connector=connector) as session:
                    sem = asyncio.Semaphore(32)

                    async def one(i: int) -> None:
                        body, headers = _signed(i)
                        async with sem, session.post(url, data=body, headers=headers) as r:
                            await r.read()
                            assert r.status == 204

                    t0 = time.perf_counter()
                    await asyncio.gather(*(one(i) for i in range(events)))
                    return events / (time.perf_counter() - t0)

            base_rates.append(asyncio.run(direct()))
    result = {"events": events, "deliveries_per_s": common.median(sim_rates),
              "limit_per_s": common.median(base_rates), "via": "core outbox (in-process enqueue)"}
    result["ratio"] = common.ratio(result["deliveries_per_s"], result["limit_per_s"])
    result["targets"] = {">= 1,000 signed deliveries/s": common.verdict(result["deliveries_per_s"] >= 1000)}
    return result


def report(r: dict[str, Any]) -> list[str]:
    return ["## Webhooks (signed, durable outbox → loopback receiver)",
            f"{r['deliveries_per_s']:.0f} deliveries/s over {r['events']} events via {r['via']}; raw aiohttp at the"
            f" same concurrency {r['limit_per_s']:.0f}/s; ratio {r['ratio']}",
            *[f"target {k}: {v}" for k, v in r["targets"].items()]]
