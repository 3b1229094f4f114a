"""Benchmark 4: scale. 1,000,000 stored messages (100,000 in flight): server RSS (< 150 MB), first page and a
deep cursor page of a list filtered by status + channel (p50 < 10 ms each), and advancing the manual clock one
hour so every due transition of the 100,000 in-flight messages runs (< 20 s).
Baselines: the same SELECT straight on sqlite3 in this process (the storage floor), GET /health on the limit app
(the HTTP floor), and the raw sqlite write volume of the advance (3 x 100,000 UPDATEs in one executemany each)."""
from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

import common

TOTAL, IN_FLIGHT = 1_000_000, 100_000


def _db(total: int, in_flight: int) -> tuple[Path, float | None]:
    base = common.RESULTS / f"scale-{total}.base.db"
    gen_s = None
    if not base.exists():
        common.RESULTS.mkdir(exist_ok=True)
        out = subprocess.run([common.PY, str(common.BENCH / "gen_messages.py"), "--db", str(base), "--total",
                              str(total), "--in-flight", str(in_flight)], capture_output=True, text=True, check=True,
                             cwd=common.BENCH)
        gen_s = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
    work = Path(common.temp_db("scale"))  # the run changes its db: a copy, removed with the run's temp directory
    shutil.copyfile(base, work)
    # Flush the 1.8 GB copy now: the kernel writing it back during the advance measured its writeback, not us.
    os.sync()
    return work, gen_s


def _token(created: int, seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([created, seq]).encode()).decode().rstrip("=")


def _p50(fn: Any, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return common.median(times)


def run(total: int = TOTAL, in_flight: int = IN_FLIGHT, n: int = 200) -> dict[str, Any]:
    db, gen_s = _db(total, in_flight)
    try:
        return _measure(db, gen_s, total, in_flight, n)
    finally:
        common.discard(str(db))


def _measure(db: Path, gen_s: float | None, total: int, in_flight: int, n: int) -> dict[str, Any]:
    ch = common.CH_NL
    sql = ("SELECT data, created_at, seq FROM bird_messages WHERE workspace_id = ? AND channel_id = ? AND status IN (?)"
           " {cursor} ORDER BY created_at DESC, seq DESC LIMIT ?")
    raw = sqlite3.connect(str(db))
    depth = min(200_000, total // 8)
    deep = raw.execute("SELECT created_at, seq FROM bird_messages WHERE channel_id=? AND status='delivered'"
                       " ORDER BY created_at DESC, seq DESC LIMIT 1 OFFSET ?", (ch, depth)).fetchone()
    # The manual clock resumes at the db's saved time, so the 100k lifecycle jobs are not yet due at start.
    saved_ms = int(raw.execute("SELECT value FROM meta WHERE key='clock_ms'").fetchone()[0])
    from datetime import UTC, datetime

    start_iso = datetime.fromtimestamp(saved_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sim = common.start_simulator(db=str(db), env={"PROVIDER_SIM_START_TIME": start_iso})
    limit = common.start_baseline()
    result: dict[str, Any] = {"total": total, "in_flight": in_flight, "generated_in_s": gen_s,
                              "deep_page_offset": depth}
    with common.stopping(sim, limit), httpx.Client(timeout=120) as client:
        result["rss_mb_idle"] = common.rss_mb(sim.pid)
        first = f"{sim.url}/workspaces/{common.WS}/channels/{ch}/messages?status=delivered&limit=20"
        deep_url = first + "&pageToken=" + _token(deep[0], deep[1])
        r = client.get(first, headers=common.AUTH)
        assert r.status_code == 200 and len(r.json()["results"]) == 20, r.text[:300]
        r = client.get(deep_url, headers=common.AUTH)
        assert r.status_code == 200 and len(r.json()["results"]) == 20, r.text[:300]
        result["first_page_p50_ms"] = _p50(lambda: client.get(first, headers=common.AUTH), n)
        result["deep_page_p50_ms"] = _p50(lambda: client.get(deep_url, headers=common.AUTH), n)
        result["http_floor_p50_ms"] = _p50(lambda: client.get(f"{limit.url}/health"), n)
        params = (common.WS, ch, "delivered", 21)
        result["sqlite_first_page_p50_ms"] = _p50(
            lambda: [json.loads(x[0]) for x in raw.execute(sql.format(cursor=""), params).fetchall()], n)
        result["sqlite_deep_page_p50_ms"] = _p50(lambda: [json.loads(x[0]) for x in raw.execute(
            sql.format(cursor="AND (created_at, seq) < (?, ?)"), (common.WS, ch, "delivered", deep[0], deep[1], 21)
        ).fetchall()], n)
        result["rss_mb_after_lists"] = common.rss_mb(sim.pid)
        peak = [0.0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], common.rss_mb(sim.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        r = client.post(f"{sim.url}/_sim/clock/advance", json={"seconds": 3600})
        result["advance_1h_s"] = round(time.perf_counter() - t0, 2)
        stop.set()
        sampler.join()
        assert r.status_code == 200, r.text[:300]
        result["advance_ran_jobs"] = r.json().get("ran")
        result["rss_mb_peak_during_advance"] = peak[0]
        result["rss_mb_after_advance"] = common.rss_mb(sim.pid)
        clock = client.get(f"{sim.url}/_sim/clock").json()
    check = sqlite3.connect(str(db))
    result["due_jobs_left"] = check.execute("SELECT COUNT(*) FROM jobs WHERE due_at <= ? AND kind='bird.transition'",
                                            (clock["nowMs"],)).fetchone()[0]
    result["in_flight_left"] = check.execute("SELECT COUNT(*) FROM bird_messages WHERE status IN"
                                             " ('accepted','processing','sent')").fetchone()[0]
    # Storage floor of the advance: the same write volume straight into sqlite (3 UPDATE passes over 100k rows).
    ids = [r[0] for r in check.execute("SELECT id, data FROM bird_messages ORDER BY seq DESC LIMIT ?", (in_flight,))]
    datas = {r[0]: r[1] for r in check.execute(
        f"SELECT id, data FROM bird_messages ORDER BY seq DESC LIMIT {in_flight}")}
    t0 = time.perf_counter()
    for status in ("processing", "sent", "delivered"):
        check.execute("BEGIN")
        check.executemany("UPDATE bird_messages SET status=?, data=? WHERE id=?",
                          [(status, datas[i], i) for i in ids])
        check.execute("COMMIT")
    result["sqlite_floor_advance_s"] = round(time.perf_counter() - t0, 2)
    check.close()
    raw.close()
    result["ratios"] = {
        "first page vs sqlite": common.ratio(result["first_page_p50_ms"], result["sqlite_first_page_p50_ms"]),
        "deep page vs sqlite": common.ratio(result["deep_page_p50_ms"], result["sqlite_deep_page_p50_ms"]),
        "advance vs sqlite floor": common.ratio(result["advance_1h_s"], result["sqlite_floor_advance_s"]),
    }
    result["targets"] = {
        "RSS < 150 MB (max of idle/after lists/after advance)": common.verdict(
            max(result["rss_mb_idle"], result["rss_mb_after_lists"], result["rss_mb_after_advance"]) < 150),
        "first page p50 < 10 ms": common.verdict(result["first_page_p50_ms"] < 10),
        "deep page p50 < 10 ms": common.verdict(result["deep_page_p50_ms"] < 10),
        "advance 1 h with 100k in flight < 20 s": common.verdict(result["advance_1h_s"] < 20),
        "every due transition ran": common.verdict(result["due_jobs_left"] == 0 and result["in_flight_left"] == 0),
    }
    return result


def report(r: dict[str, Any]) -> list[str]:
    return [f"## Scale ({r['total']:,} stored messages, {r['in_flight']:,} in flight)",
            f"RSS: idle {r['rss_mb_idle']} MB, after lists {r['rss_mb_after_lists']} MB, peak during advance"
            f" {r['rss_mb_peak_during_advance']} MB, after advance {r['rss_mb_after_advance']} MB",
            f"first page (status=delivered, one channel, limit 20): p50 {r['first_page_p50_ms']} ms"
            f" (sqlite floor {r['sqlite_first_page_p50_ms']} ms, ratio {r['ratios']['first page vs sqlite']};"
            f" HTTP floor {r['http_floor_p50_ms']} ms)",
            f"deep cursor page (offset {r['deep_page_offset']:,}): p50 {r['deep_page_p50_ms']} ms (sqlite floor"
            f" {r['sqlite_deep_page_p50_ms']} ms, ratio {r['ratios']['deep page vs sqlite']})",
            f"advance 1 h: {r['advance_1h_s']} s, {r['advance_ran_jobs']} jobs run, in flight left"
            f" {r['in_flight_left']} (sqlite write floor {r['sqlite_floor_advance_s']} s, ratio"
            f" {r['ratios']['advance vs sqlite floor']})",
            *[f"target {k}: {v}" for k, v in r["targets"].items()]]
