"""Soak: a `provider-sim serve` process under steady mixed load on both providers for N minutes, on a real clock sped
up (hours of simulated traffic), with webhook receivers that fail ~10 % of deliveries and simulated customers who
write in. Reports the server's RSS and fd slopes after warm-up, p99 latency per minute, the longest any request
waited, the database size over time and what retention removed; at the end checks that every accepted message not
yet old enough for retention is readable and that every webhook arrived (signature checked).

Usage: .venv/bin/python bench/soak.py --minutes 30 [--rate 200] [--speed 60] [--retention '*=3h'] [--db PATH|URL]
       (make bench ARGS="--only soak --minutes 30" runs the same through run_all.py)
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import hmac
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

SIGNING_KEY = "soak-signing-key"
FAIL_SHARE = 0.10
BUSINESS = "4a1c9f00-0000-4000-8000-00000000b001"
MSP_ID = "1f4e7a20-0000-4000-8000-00000000e5e0"
SECRET = base64.b64decode("cHJvdmlkZXItc2ltdWxhdG9yLWJ1c2luZXNzLWNoYXQtc2VjcmV0")
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
NUMBERS = [f"+1555{i:03d}0000" for i in range(200)]  # suffix 0000: delivered; a bounded set of contacts
CUSTOMERS = [f"urn:mbid:AQAAYSoakCustomer{i:04d}" for i in range(20)]
# (what, share of requests)
MIX = (("bird_send", 0.45), ("bird_get", 0.15), ("bird_list", 0.05), ("bird_inbound", 0.05), ("bc_send", 0.20),
       ("bc_customer", 0.10))
SAMPLE_S = 5.0


# -- the webhook receiver (its own process: its work does not slow the load generator) ------------------------------

def _quiet_gc() -> None:
    """The load generator and the receiver are measuring instruments: their own full collections (up to 23 ms each
    in a probe of this benchmark) would count as the server's pauses. What exists is frozen and full collections
    become rare; the young generations still collect."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 100, 1_000_000)


def _receiver(port_out: Any, seed: int) -> None:
    from aiohttp import web

    rng = random.Random(seed)
    bird: dict[str, set[str]] = {}
    bc: set[str] = set()
    counts = {"answered_ok": 0, "failed_on_purpose": 0, "bad_signature": 0}

    async def on_bird(request: web.Request) -> web.Response:
        body = await request.read()
        ts = request.headers.get("messagebird-request-timestamp", "")
        url = str(request.url)
        expected = base64.b64encode(hmac.new(SIGNING_KEY.encode(), ts.encode() + b"\n" + url.encode() + b"\n"
                                             + hashlib.sha256(body).digest(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, request.headers.get("messagebird-signature", "")):
            counts["bad_signature"] += 1
            return web.Response(status=401)
        if rng.random() < FAIL_SHARE:
            counts["failed_on_purpose"] += 1
            return web.Response(status=500)
        envelope = json.loads(body)
        payload = envelope["payload"]
        bird.setdefault(payload["id"], set()).add(f"{envelope['event']}:{payload.get('status', '')}")
        counts["answered_ok"] += 1
        return web.Response(status=200)

    async def on_bc(request: web.Request) -> web.Response:
        import jwt

        try:
            jwt.decode(request.headers.get("authorization", "").removeprefix("Bearer "), SECRET, algorithms=["HS256"],
                       audience=MSP_ID)
        except jwt.PyJWTError:
            counts["bad_signature"] += 1
            return web.Response(status=401)
        if rng.random() < FAIL_SHARE:
            counts["failed_on_purpose"] += 1
            return web.Response(status=500)
        raw = await request.read()
        body = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        bc.add(body["id"])
        counts["answered_ok"] += 1
        return web.Response(status=200)

    async def summary(request: web.Request) -> web.Response:
        return web.json_response({"bird": {k: sorted(v) for k, v in bird.items()}, "bc": sorted(bc), **counts})

    async def main() -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.add_routes([web.post("/bird", on_bird), web.post("/bc/message", on_bc), web.get("/summary", summary)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    _quiet_gc()
    asyncio.run(main())


# -- the load --------------------------------------------------------------------------------------------------------

class Soak:
    def __init__(self, base: str, pid: int, db: str, rate: float, speed: float, minutes: float, seed: int) -> None:
        self.base, self.pid, self.db, self.rate, self.speed = base, pid, db, rate, speed
        self.seconds = minutes * 60
        self.rng = random.Random(seed)
        self.samples: list[dict[str, Any]] = []
        self.latencies: list[tuple[float, float, str]] = []  # (wall offset, seconds, what)
        self.statuses: dict[str, int] = {}
        self.errors: list[str] = []
        self.bird_sent: dict[str, int] = {}  # message id -> createdAt (sim ms)
        self.bird_inbound: list[str] = []
        self.bc_sent: list[tuple[str, str, float]] = []  # (customer, id, perf_counter when sent)
        self.bc_customer: list[str] = []
        self.late_starts = 0

    async def request(self, session: Any, what: str) -> None:
        import jwt

        method, path, body, headers = "GET", "", None, dict(common.AUTH)
        if what == "bird_send":
            method, path = "POST", f"/workspaces/{common.WS}/channels/{common.CH_US}/messages"
            body = {"receiver": {"contacts": [{"identifierValue": self.rng.choice(NUMBERS)}]},
                    "body": {"type": "text", "text": {"text": "Your code is 4821. It expires in 10 minutes."}}}
        elif what == "bird_get":
            if not self.bird_sent:
                return
            recent = list(self.bird_sent)[-200:]
            path = f"/workspaces/{common.WS}/channels/{common.CH_US}/messages/{self.rng.choice(recent)}"
        elif what == "bird_list":
            path = f"/workspaces/{common.WS}/channels/{common.CH_US}/messages?limit=20"
        elif what == "bird_inbound":
            method, path, headers = "POST", "/_sim/bird/inbound", {}
            body = {"channelId": common.CH_US, "from": self.rng.choice(NUMBERS), "text": "STATUS?"}
            if self.rng.random() < 0.2:
                body["media"] = [{"contentType": "image/png", "base64": base64.b64encode(PNG).decode()}]
        elif what == "bc_send":
            customer, message_id = self.rng.choice(CUSTOMERS), str(uuid.uuid4())
            token = jwt.encode({"iss": MSP_ID, "iat": int(time.time())}, SECRET, algorithm="HS256")
            method, path = "POST", "/v1/message"
            headers = {"Authorization": f"Bearer {token}", "source-id": BUSINESS, "id": message_id,
                       "destination-id": customer}
            body = {"v": 1, "id": message_id, "type": "text", "sourceId": BUSINESS, "destinationId": customer,
                    "body": "Your order is ready for pickup."}
        elif what == "bc_customer":
            customer = self.rng.choice(CUSTOMERS)
            method, path, headers = "POST", f"/_sim/business-chat/businesses/{BUSINESS}/customers/{customer}/text", {}
            body = {"text": "Is it ready?"}
        started = time.perf_counter()
        try:
            async with session.request(method, self.base + path, json=body, headers=headers) as response:
                data = await response.read()
                status = response.status
        except Exception as exc:  # noqa: BLE001 - counted and reported, the soak goes on
            self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
            return
        elapsed = time.perf_counter() - started
        self.latencies.append((started - self.t0, elapsed, what))
        key = f"{what} {status}"
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if status >= 300:
            if len(self.errors) < 50:
                self.errors.append(f"{what} {status}: {data[:200]!r}")
            return
        if what == "bird_send":
            answer = json.loads(data)
            self.bird_sent[answer["id"]] = _ms(answer["createdAt"])
        elif what == "bird_inbound":
            self.bird_inbound.append(json.loads(data)["id"])
        elif what == "bc_send":
            self.bc_sent.append((body["destinationId"], body["id"], time.perf_counter()))  # type: ignore[index]
        elif what == "bc_customer":
            self.bc_customer.append(json.loads(data)["sent"]["id"])

    async def run(self) -> None:
        import aiohttp

        kinds = [k for k, _ in MIX]
        weights = [w for _, w in MIX]
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            self.t0 = time.perf_counter()
            sampler = asyncio.create_task(self.sample_forever(session))
            in_flight: set[asyncio.Task[None]] = set()
            gate = asyncio.Semaphore(64)
            n = 0
            while (due := self.t0 + n / self.rate) < self.t0 + self.seconds:
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.05:
                    self.late_starts += 1
                what = self.rng.choices(kinds, weights)[0]

                async def one(kind: str = what) -> None:
                    async with gate:
                        await self.request(session, kind)

                task = asyncio.create_task(one())
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                n += 1
            if in_flight:
                await asyncio.wait(in_flight)
            sampler.cancel()
            await self.sample(session)

    async def sample_forever(self, session: Any) -> None:
        while True:
            await asyncio.sleep(SAMPLE_S)
            await self.sample(session)

    async def sample(self, session: Any) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        async with session.get(self.base + "/_sim/metrics") as response:
            text = await response.text()
        metrics: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                label = s.labels.get("kind")
                name = f"{s.name}{{{label}}}" if label else s.name
                if not s.labels or label:
                    metrics[name] = s.value
        try:
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            fds = -1
        self.samples.append({"t": round(time.perf_counter() - self.t0, 1), "rss_mb": common.rss_mb(self.pid),
                             "fds": fds, "requests": len(self.latencies), "files_mb": round(_files_mb(self.db), 1),
                             **{f"{k}_mb": v for k, v in _sizes_mb(self.db).items()},
                             "store_mb": round(metrics.get("provider_sim_store_bytes", 0) / 1e6, 1),
                             "loop_lag_max_ms": round(metrics.get("provider_sim_event_loop_lag_max_seconds", 0) * 1e3,
                                                      1),
                             "outbox_pending": metrics.get("provider_sim_outbox_pending", 0),
                             "rows": {k.split("{")[1][:-1]: v for k, v in metrics.items()
                                      if k.startswith("provider_sim_retained_rows{")},
                             "removed": sum(v for k, v in metrics.items()
                                            if k.startswith("provider_sim_retention_removed_rows_total{")),
                             "sweeps": metrics.get("provider_sim_retention_sweeps_total", 0)})


def _ms(iso: str) -> int:
    from simulator.core.clock import parse_rfc3339

    return parse_rfc3339(iso)


def _files_mb(db: str) -> float:
    return sum(_sizes_mb(db).values())


def _sizes_mb(db: str) -> dict[str, float]:
    """The SQLite file, its WAL (bounded by the checkpointer) and the media files beside it, MB."""
    if db.startswith("postgres"):
        return {}
    sizes = {}
    for name, path in (("db", Path(db)), ("wal", Path(db + "-wal")), ("media", Path(db + ".media"))):
        total = 0
        if path.is_file():
            total = path.stat().st_size
        elif path.is_dir():
            total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        sizes[name] = round(total / 1e6, 1)
    return sizes


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y)."""
    if len(points) < 3:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else float("nan")


# -- the end: drain, then check --------------------------------------------------------------------------------------

async def check_readable(soak: Soak) -> dict[str, Any]:
    """Right after the load: every Bird message and Business Chat message whose age, when it is read, is below its
    kind's retention (less 10 %: a sweep may be under way) must be there. Older ones may have been removed."""
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.get(soak.base + "/_sim/clock") as r:
            now0, wall0 = (await r.json())["nowMs"], time.perf_counter()
        async with session.get(soak.base + "/_sim/retention") as r:
            retention = {k["kind"]: k["retentionSeconds"] for k in (await r.json())["kinds"]}

        def young(created_ms: float, kind: str) -> bool:
            keep_ms = retention[kind] * 1000 or float("inf")
            now = now0 + (time.perf_counter() - wall0) * 1000 * soak.speed
            return now - created_ms < keep_ms * 0.9

        gate = asyncio.Semaphore(16)
        unreadable: list[tuple[str, int]] = []
        checked = removed = 0

        async def read(message_id: str, created: int) -> None:
            nonlocal checked, removed
            async with gate:
                path = f"/workspaces/{common.WS}/channels/{common.CH_US}/messages/{message_id}"
                async with session.get(soak.base + path, headers=common.AUTH) as r:
                    status = r.status
                if status == 200:
                    checked += young(created, "bird.messages")
                elif young(created, "bird.messages"):
                    unreadable.append((message_id, status))
                else:
                    removed += 1

        newest_first = sorted(soak.bird_sent.items(), key=lambda item: -item[1])
        await asyncio.gather(*(read(i, c) for i, c in newest_first if young(c, "bird.messages")))
        await asyncio.gather(*(read(i, c) for i, c in newest_first[-500:] if not young(c, "bird.messages")))
        bc_missing: list[str] = []
        bc_checked = 0
        devices: dict[str, set[str]] = {}
        for customer, message_id, at in soak.bc_sent:
            created = now0 - (wall0 - at) * 1000 * soak.speed
            if not young(created, "business_chat.device_messages"):
                continue
            if customer not in devices:
                async with session.get(f"{soak.base}/_sim/business-chat/customers/{customer}/device") as r:
                    devices[customer] = {m["id"] for m in (await r.json())["messages"]}
            bc_checked += 1
            if message_id not in devices[customer]:
                bc_missing.append(message_id)
    return {"bird_young_checked": checked, "bird_young_unreadable": len(unreadable),
            "bird_old_sampled_removed": f"{removed}/{min(500, len(newest_first))}",
            "bc_sent": len(soak.bc_sent), "bc_young_checked": bc_checked, "bc_young_missing": len(bc_missing),
            "examples_unreadable": unreadable[:5], "examples_bc_missing": bc_missing[:5]}


def drain_and_check_webhooks(soak: Soak, receiver_url: str, timeout_s: float) -> dict[str, Any]:
    """Wait for the outbox to empty (retries run on the sped-up clock), then compare with what the receivers got."""
    import httpx2 as httpx

    waited = time.perf_counter()
    with httpx.Client(base_url=soak.base, timeout=30) as client:
        while time.perf_counter() - waited < timeout_s:
            if client.get("/_sim/outbox", params={"limit": 1}).json()["stats"]["pending"] == 0:
                break
            time.sleep(2)
    drained_s = time.perf_counter() - waited
    got = httpx.get(receiver_url + "/summary", timeout=60).json()
    delivered = {i for i, events in got["bird"].items() if "sms.outbound:delivered" in events}
    inbound_seen = {i for i, events in got["bird"].items() if any(e.startswith("sms.inbound") for e in events)}
    bc_seen = set(got["bc"])
    missing = [i for i in soak.bird_sent if i not in delivered]
    return {"drained_s": round(drained_s, 1), "receiver": {k: v for k, v in got.items() if k not in ("bird", "bc")},
            "bird_accepted": len(soak.bird_sent), "bird_webhooks_missing": len(missing),
            "bird_inbound": len(soak.bird_inbound),
            "bird_inbound_webhooks_missing": sum(1 for i in soak.bird_inbound if i not in inbound_seen),
            "bc_customer_messages": len(soak.bc_customer),
            "bc_webhooks_missing": sum(1 for i in soak.bc_customer if i not in bc_seen),
            "examples_bird_webhooks_missing": missing[:5]}


def run(minutes: float = 3.0, rate: float = 200.0, speed: float = 60.0, retention: str = "*=3h",
        db: str | None = None, seed: int = 1, drain_timeout_s: float = 600.0) -> dict[str, Any]:
    import httpx2 as httpx

    common.workdir()
    queue: Any = multiprocessing.get_context("spawn").Queue()
    receiver = multiprocessing.get_context("spawn").Process(target=_receiver, args=(queue, seed), daemon=True)
    receiver.start()
    receiver_url = f"http://127.0.0.1:{queue.get(timeout=30)}"
    db = db or common.temp_db("soak")
    cmd = [common.PROVIDER_SIM, "serve", "--port", "0", "--db", db, "--clock", "real", "--clock-speed", str(speed),
           "--log-level", "warning"]
    env = {"PROVIDER_SIM_RETENTION": retention, "PROVIDER_SIM_SEED": str(seed)}
    sim = common._spawn(cmd, r"listening on http://[\d.]+:(\d+)", "/_sim/health", "soak-simulator.log", env)  # noqa: SLF001 - the bench's own helper
    try:
        with httpx.Client(base_url=sim.url, timeout=30) as client:
            for event in ("sms.outbound", "sms.inbound"):
                r = client.post(f"/workspaces/{common.WS}/webhook-subscriptions", headers=common.AUTH,
                                json={"service": "channels", "event": event, "url": receiver_url + "/bird",
                                      "signingKey": SIGNING_KEY})
                assert r.status_code in (200, 201), r.text
            r = client.post(f"/_sim/business-chat/businesses/{BUSINESS}", json={"webhookUrl": receiver_url + "/bc"})
            assert r.status_code == 200, r.text
            for customer in CUSTOMERS:
                # Simulated customers answer each business text half a simulated minute later.
                r = client.post("/_sim/business-chat/customers", json={
                    "id": customer, "name": "Soak", "businessId": BUSINESS, "existingConversation": True,
                    "behaviour": {"reply_to_text": {"text": "Thanks!", "after_seconds": 30}}})
                assert r.status_code in (200, 201), r.text
        soak = Soak(sim.url, sim.pid, db, rate, speed, minutes, seed)
        _quiet_gc()
        asyncio.run(soak.run())
        checks = asyncio.run(check_readable(soak))
        checks.update(drain_and_check_webhooks(soak, receiver_url, drain_timeout_s))
        final = {"rss_mb": common.rss_mb(sim.pid), "files_mb": round(_files_mb(db), 1),
                 "retention": {k["kind"]: {"removed": k["removed"], "rows": k["rows"], "steps": k["steps"],
                                           "longestStepMs": k["longestStepMs"]}
                               for k in httpx.get(sim.url + "/_sim/retention").json()["kinds"]}}
    finally:
        sim.stop()
        receiver.terminate()
        receiver.join(10)
    return summarize(soak, checks, final, {"minutes": minutes, "rate": rate, "speed": speed, "retention": retention,
                                            "db": "postgresql" if db.startswith("postgres") else "sqlite"})


def summarize(soak: Soak, checks: dict[str, Any], final: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    per_minute = []
    minutes = int(soak.seconds // 60) or 1
    for m in range(minutes + 1):
        within = sorted(s for t, s, _ in soak.latencies if m * 60 <= t < (m + 1) * 60)
        if within:
            per_minute.append({"minute": m, "requests": len(within),
                               "p50_ms": round(within[len(within) // 2] * 1e3, 1),
                               "p99_ms": round(within[min(len(within) - 1, int(len(within) * 0.99))] * 1e3, 1),
                               "max_ms": round(within[-1] * 1e3, 1)})
    warm = [s for s in soak.samples if s["t"] >= min(60.0, soak.seconds / 3)]
    rss_slope = _slope([(s["t"] / 60, s["rss_mb"]) for s in warm])  # MB per minute
    fd_slope = _slope([(s["t"] / 60, s["fds"]) for s in warm])
    req_per_min = len(soak.latencies) / (soak.seconds / 60)
    longest = max(soak.latencies, key=lambda x: x[1]) if soak.latencies else (0, 0, "")
    first_removal = next((s["t"] for s in soak.samples if s["removed"] > 0), None)
    after = [s for s in soak.samples if first_removal is not None and s["t"] >= first_removal + 60]
    # Steady state: from a minute after retention first removed, when the data set has stopped growing (before it,
    # SQLite's page cache and the server's connection pools still fill up with the data).
    steady_rss = _slope([(s["t"] / 60, s["rss_mb"]) for s in after]) if len(after) >= 3 else None
    steady_fds = _slope([(s["t"] / 60, s["fds"]) for s in after]) if len(after) >= 3 else None
    return {"params": params, "machine": common.machine(), "requests": len(soak.latencies),
            "statuses": soak.statuses, "errors": soak.errors[:20], "late_starts": soak.late_starts,
            "longest_ms": round(longest[1] * 1e3, 1), "longest_what": longest[2],
            "longest_at_s": round(longest[0], 1), "per_minute": per_minute,
            "rss_mb_per_min_after_warmup": round(rss_slope, 3),
            "rss_mb_per_100k_requests": round(rss_slope / req_per_min * 1e5, 2) if req_per_min else None,
            "fds_per_min_after_warmup": round(fd_slope, 3),
            "retention_started_at_s": first_removal,
            "rss_mb_per_100k_requests_steady": (round(steady_rss / req_per_min * 1e5, 2)
                                                if steady_rss is not None and req_per_min else None),
            "fds_per_min_steady": round(steady_fds, 3) if steady_fds is not None else None,
            "db_mb_per_min_after_retention": round(_slope([(s["t"] / 60, s.get("db_mb", s["store_mb"]))
                                                           for s in after]), 2) if len(after) >= 3 else None,
            "samples": soak.samples, "checks": checks, "final": final}


def report(r: dict[str, Any]) -> list[str]:
    c = r["checks"]
    p = r["params"]
    lines = [f"## soak: {p['minutes']} min, {p['rate']:.0f} req/s, clock x{p['speed']:.0f}, retention {p['retention']},"
             f" {p['db']}",
             f"requests {r['requests']:,}; statuses {r['statuses']}; client errors {len(r['errors'])};"
             f" late starts {r['late_starts']}",
             f"longest request {r['longest_ms']} ms ({r['longest_what']} at {r['longest_at_s']} s)",
             "p99 per minute (ms): " + ", ".join(f"{m['p99_ms']}" for m in r["per_minute"]),
             "max per minute (ms): " + ", ".join(f"{m['max_ms']}" for m in r["per_minute"]),
             f"RSS slope after warm-up {r['rss_mb_per_min_after_warmup']} MB/min"
             f" = {r['rss_mb_per_100k_requests']} MB per 100k requests; fds {r['fds_per_min_after_warmup']}/min",
             f"from a minute after retention first removed: RSS {r['rss_mb_per_100k_requests_steady']} MB per 100k"
             f" requests; fds {r['fds_per_min_steady']}/min",
             f"retention first removed at {r['retention_started_at_s']} s; database growth from a minute after that"
             f" {r['db_mb_per_min_after_retention']} MB/min",
             "database MB by minute (SQLite: db file / WAL / media files; PostgreSQL: pg_database_size): " + ", ".join(
                 (f"{s['db_mb']}/{s['wal_mb']}/{s['media_mb']}" if "db_mb" in s else f"{s['store_mb']}")
                 for s in r["samples"][:: max(1, int(60 / SAMPLE_S))]),
             "RSS MB by minute: " + ", ".join(f"{s['rss_mb']}" for s in r["samples"][:: max(1, int(60 / SAMPLE_S))]),
             f"event-loop lag max per sample (ms), worst: {max((s['loop_lag_max_ms'] for s in r['samples']), default=0)}",
             f"final: {r['final']}",
             f"checks: Bird accepted {c['bird_accepted']:,}, delivered webhook missing {c['bird_webhooks_missing']};"
             f" inbound {c['bird_inbound']:,}, webhook missing {c['bird_inbound_webhooks_missing']};"
             f" Business Chat customer messages {c['bc_customer_messages']:,}, webhook missing"
             f" {c['bc_webhooks_missing']}; receivers {c['receiver']}",
             f"checks: readable — Bird messages younger than retention {c['bird_young_checked']:,}, unreadable"
             f" {c['bird_young_unreadable']}; older ones sampled and removed {c['bird_old_sampled_removed']};"
             f" Business Chat sent {c['bc_sent']:,}, young {c['bc_young_checked']:,} missing on the device"
             f" {c['bc_young_missing']}; drained in {c['drained_s']} s"]
    ok = (not c["bird_webhooks_missing"] and not c["bird_inbound_webhooks_missing"] and not c["bc_webhooks_missing"]
          and not c["bird_young_unreadable"] and not c["bc_young_missing"] and not c["receiver"]["bad_signature"]
          and all(k.endswith(("200", "201", "202")) for k in r["statuses"]))
    lines.append(f"every accepted message readable and every webhook arrived: {'yes' if ok else 'NO'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second, both providers together")
    parser.add_argument("--speed", type=float, default=60.0, help="the simulator's clock speed")
    parser.add_argument("--retention", default="*=3h", help="PROVIDER_SIM_RETENTION for the run")
    parser.add_argument("--db", default=None, help="SQLite path or postgresql:// URL (default: a fresh file)")
    args = parser.parse_args()
    result = run(args.minutes, args.rate, args.speed, args.retention, args.db)
    print("\n".join(report(result)), flush=True)
    common.RESULTS.mkdir(exist_ok=True)
    (common.RESULTS / "soak-latest.json").write_text(json.dumps(result, indent=1, default=str))
    print("written bench/results/soak-latest.json")


if __name__ == "__main__":
    main()
