"""CPU per operation with the HTTP server taken out, optionally under cProfile: the app is driven as an ASGI
callable in this process (16 concurrent senders), or the scheduler advances a copy of the scale db.

Run:
  .venv/bin/python bench/profile_inprocess.py send|bc-text|bc-list-picker [--n 3000] [--profile]   (SORT=cumulative TOP=60 for another view)
  .venv/bin/python bench/profile_inprocess.py advance [--db bench/results/scale-1000000.base.db] [--profile]
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def _asgi_request(app, path: str, headers: list[tuple[bytes, bytes]], body: bytes):
    """One POST driven straight through the ASGI app (no server, no socket)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 1),
             "headers": headers + [(b"content-length", str(len(body)).encode())], "state": {}}
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    statuses: list[int] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def run() -> None:
        await app(scope, receive, send)
        assert statuses and statuses[0] < 300, statuses

    return run()


def send_requests() -> list[tuple[list[tuple[bytes, bytes]], bytes]]:
    """500 different Bird sends as (ASGI headers, body)."""
    headers = [(b"authorization", common.AUTH["Authorization"].encode()), (b"content-type", b"application/json"),
               (b"host", b"127.0.0.1")]
    return [(headers, common.send_body(i).encode()) for i in range(500)]


async def _drive(what: str, n: int, profile: bool) -> None:
    from simulator.app import create_app
    from simulator.settings import Settings

    # PROFILE_DB: another store (a postgresql:// URL of an empty database) instead of a fresh SQLite file.
    app = create_app(Settings(db=os.environ.get("PROFILE_DB") or common.temp_db("profile"), clock="manual", port=1,
                              log_level="warning", tune_gc=True))
    async with app.router.lifespan_context(app):
        if what == "send":
            path, requests = common.SEND_PATH, send_requests()
        else:
            path, requests = "/v1/message", await _bc_requests(app, "text" if what == "bc-text" else "list-picker")

        async def one(i: int) -> None:
            headers, body = requests[i % len(requests)]
            await _asgi_request(app, path, headers, body)

        for i in range(200):
            await one(i)

        async def sender(k: int) -> None:
            for i in range(k, n, 16):
                await one(i)

        profiler = cProfile.Profile() if profile else None
        t0, c0, io0 = time.perf_counter(), time.process_time(), common.written()
        if profiler:
            profiler.enable()
        await asyncio.gather(*(sender(k) for k in range(16)))
        if profiler:
            profiler.disable()
        wall, cpu, io1 = time.perf_counter() - t0, time.process_time() - c0, common.written()
        print(f"{n} × {what}, 16 concurrent: {wall / n * 1e6:.0f} µs wall, {cpu / n * 1e6:.0f} µs CPU per request;"
              f" written {(io1[0] - io0[0]) / n / 1024:.1f} KB in {(io1[1] - io0[1]) / n:.1f} write calls per request;"
              f" store {app.state.sim.store.stats}")
        if profiler:
            pstats.Stats(profiler).sort_stats(os.environ.get("SORT","tottime")).print_stats(int(os.environ.get("TOP","35")))


async def _bc_requests(app, kind: str) -> list[tuple[list[tuple[bytes, bytes]], bytes]]:
    import base64

    import httpx2 as httpx
    import jwt

    import bench_business_chat

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        raw = (await client.get("/_sim/business-chat")).json()
        customer = (await client.get("/_sim/business-chat/customers")).json()["customers"][0]["id"]
    info = {"msp": raw["mspId"], "secret": base64.b64decode(raw["secret"]), "business": raw["businesses"][0]}
    token = jwt.encode({"iss": info["msp"], "iat": int(time.time())}, info["secret"], algorithm="HS256")
    base = [(b"authorization", f"Bearer {token}".encode()), (b"source-id", info["business"].encode()),
            (b"destination-id", customer.encode()), (b"content-type", b"application/json"), (b"host", b"sim")]
    return [(base + [(b"id", mid.encode())], body.encode())
            for mid, body in bench_business_chat._bodies(info, customer, kind, 3000 if kind == "text" else 60)]


async def _advance(db: str, profile: bool) -> None:
    from simulator.app import create_app
    from simulator.settings import Settings

    work = common.temp_db("advance")  # removed at exit with the rest of common.workdir()
    shutil.copyfile(db, work)
    os.sync()
    saved = int(sqlite3.connect(work).execute("SELECT value FROM meta WHERE key='clock_ms'").fetchone()[0])
    start = datetime.fromtimestamp(saved / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    app = create_app(Settings(db=work, clock="manual", port=1, log_level="warning", start_time=start, tune_gc=True))
    try:
        async with app.router.lifespan_context(app):
            sim = app.state.sim
            profiler = cProfile.Profile() if profile else None
            t0, c0 = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            result = await sim.scheduler.advance(3600)
            if profiler:
                profiler.disable()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            ran = max(result["ran"], 1)
            print(f"advance 1 h: {result['ran']} jobs in {wall:.2f} s ({cpu:.2f} s CPU), {wall / ran * 1e6:.0f} µs"
                  f" per job; store {sim.store.stats}")
            if profiler:
                pstats.Stats(profiler).sort_stats(os.environ.get("SORT","tottime")).print_stats(int(os.environ.get("TOP","35")))
    finally:
        common.discard(work)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["send", "bc-text", "bc-list-picker", "advance"])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--db", default=str(common.RESULTS / "scale-1000000.base.db"))
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    if args.what != "advance":
        asyncio.run(_drive(args.what, args.n, args.profile))
    else:
        asyncio.run(_advance(args.db, args.profile))


if __name__ == "__main__":
    main()
