"""Generate a simulator database with N stored Bird messages (default 1,000,000), of which M (default 100,000)
are in flight (accepted, with their lifecycle job pending). Rows match simulator/migrations/0002_bird_core.sql
and what bird.service.Sender._store_outgoing writes. Uses the simulator's own migrations, then executemany.

Run: .venv/bin/python bench/gen_messages.py --db bench/results/scale.db [--total 1000000] [--in-flight 100000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

WS = "5b4b2a1e-0000-4000-8000-00000000a001"
CHANNELS = [("7c0f4a8e-0000-4000-8000-00000000c001", "9d2e1b3c-0000-4000-8000-00000000d001", "+15550100001", "US MMS number"),
            ("7c0f4a8e-0000-4000-8000-00000000c002", "9d2e1b3c-0000-4000-8000-00000000d002", "+3197010200002", "NL SMS number"),
            ("7c0f4a8e-0000-4000-8000-00000000c003", "9d2e1b3c-0000-4000-8000-00000000d003", "+15550100003", "OTP sender (2FA)")]
DONE_STATUSES = ["delivered"] * 8 + ["delivery_failed", "sending_failed"]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def rows(total: int, in_flight: int, now: int, rng: random.Random):
    span = 30 * 86400 * 1000
    for i in range(total):
        flying = i >= total - in_flight
        created = now - span + (span * i) // total if not flying else now
        ch, conn, number, name = CHANNELS[i % 3]
        to = f"+3161{rng.randrange(10**7):07d}0"
        status = "accepted" if flying else DONE_STATUSES[i % len(DONE_STATUSES)]
        mid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        stamp = iso(created)
        text = f"Your code is {rng.randrange(10**6):06d}. It expires in 10 minutes."
        msg = {"id": mid, "channelId": ch,
               "sender": {"connector": {"id": conn, "identifierValue": number, "annotations": {"name": name}}},
               "receiver": {"contacts": [{"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                          "identifierKey": "phonenumber", "identifierValue": to}]},
               "body": {"type": "text", "text": {"text": text}}, "reference": f"order-{i}", "meta": {},
               "parts": [] if flying else [{"platformReference": f"{rng.getrandbits(64):016x}"}],
               "status": status, "reason": "", "details": "", "direction": "outgoing", "origin": None,
               "failure": None, "tags": ["otp"], "batchId": None, "lastStatusAt": stamp, "createdAt": stamp,
               "updatedAt": stamp}
        yield (mid, WS, ch, "outgoing", status, created, None, number, to, msg["receiver"]["contacts"][0]["id"],
               f"order-{i}", ",otp,", json.dumps(msg, separators=(",", ":"), ensure_ascii=False)), (
            (now + 200, "bird.transition", mid, WS,
             json.dumps({"outcome": "delivered", "expires": now + 172800 * 1000, "text": text},
                        separators=(",", ":"))) if flying else None)


def generate(db: str, total: int, in_flight: int) -> dict[str, float]:
    from simulator.core.sqlite_store import SqliteStore as Store

    Path(db).unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(db + suffix).unlink(missing_ok=True)

    async def migrate() -> None:
        store = Store(db)
        await store.open()
        await store.close()

    asyncio.run(migrate())
    t0 = time.perf_counter()
    now = int(time.time()) * 1000
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    rng = random.Random(6)
    conn.execute("BEGIN")
    batch, jobs = [], []
    for msg, job in rows(total, in_flight, now, rng):
        batch.append(msg)
        if job:
            jobs.append(job)
        if len(batch) >= 50_000:
            conn.executemany("INSERT INTO bird_messages (id, workspace_id, channel_id, direction, status, created_at,"
                             " batch_id, sender, recipient, contact_id, reference, tags, data)"
                             " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
            batch.clear()
    if batch:
        conn.executemany("INSERT INTO bird_messages (id, workspace_id, channel_id, direction, status, created_at,"
                         " batch_id, sender, recipient, contact_id, reference, tags, data)"
                         " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
    conn.executemany("INSERT INTO jobs (due_at, kind, ref, scope, payload) VALUES (?,?,?,?,?)", jobs)
    conn.execute("INSERT INTO meta (key, value) VALUES ('clock_ms', ?) ON CONFLICT(key) DO UPDATE SET"
                 " value=excluded.value", (str(now),))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    return {"seconds": round(time.perf_counter() - t0, 1), "now_ms": now,
            "size_mb": round(Path(db).stat().st_size / 1024 / 1024, 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--in-flight", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(generate(args.db, args.total, args.in_flight)))
