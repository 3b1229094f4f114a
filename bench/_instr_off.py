"""Instructions per request, counted by valgrind's callgrind: the same count on a quiet host and on a noisy one, so
two versions of the code compare exactly where timings cannot (run it on both trees: `PYTHONPATH=<worktree>`).

A workload is driven in-process through the ASGI app (16 concurrent senders, as in profile_inprocess.py) twice,
with 0 and with N measured requests after the same warm-up: the difference over N is what one request costs, with
start-up and warm-up cancelled out. Repeated runs agree to within ~1 %. `start` counts importing the app and running
its lifespan (what `provider-sim serve` does before it listens). callgrind runs code ~50x slower: ~1 min a workload.
Counts weigh instructions alike and overstate OpenSSL: under valgrind it cannot use SHA-NI or AES-NI (a 50 KB SHA-1
counts ~600 k instructions and takes 27 us natively). Use it to compare versions, not as a time.

`limit` counts "the limit" (bench/baseline_app.py) answering the same sends, driven the same way.

Where a send's instructions go, layer by layer (`floor` runs these and `limit`, and prints the steps):
  send-noop       the send route answers 202 as soon as it has read the body: the simulator's HTTP stack
                  (uvicorn's ASGI surface aside), its middleware and journal
  send-validated  the real send handler (authentication, channel, parsing, every validation) with the store step
                  stubbed: it answers 202 without storing
  send            the real send
  sql-floor       only the SQL a steady-state send runs, straight through sqlite3 on the simulator's own
                  connection (schema, PRAGMAs): SAVEPOINT, the message INSERT, the job and timeline rows,
                  RELEASE, one COMMIT per 16 sends, with rows copied from a real send. No Python of ours.
  sql-floor-bare  the same without the message table's 8 list indexes and without the timeline row: the least a
                  durable message and its lifecycle job can cost in SQLite (lists at scale would be scans)

SQLite's memory statistics are off in the counted runs, as `provider-sim serve` has them (simulator/core/
sqlite_tuning.py); `--keep-sqlite-stats` counts the in-process Simulator's case, and trees from before the switch.

Run: .venv/bin/python bench/instructions.py WHAT [--n 1000] [--top 25] [--keep-sqlite-stats]
     WHAT = send|send-noop|send-validated|sql-floor|sql-floor-bare|limit|bc-text|bc-list-picker|start|floor
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import profile_inprocess as p  # noqa: E402

WARMUP = 500
KEEP: list[str] = []  # ["--keep-sqlite-stats"] when asked, passed on to the counted runs


async def _workload(what: str, n: int) -> None:
    if what == "limit":  # "the limit" (bench/baseline_app.py) answering the same sends: the floor a send sits on
        import baseline_app

        requests = p.send_requests()
        for first, count in ((0, WARMUP), (WARMUP, n)):
            await asyncio.gather(*(_senders(baseline_app.app, common.SEND_PATH, requests, k, first, count)
                                   for k in range(16)))
        return
    from simulator.app import create_app
    from simulator.settings import Settings

    if what in ("send-noop", "send-validated"):
        _stub_send_route(what)
    work = tempfile.mkdtemp(prefix="instructions-")
    app = create_app(Settings(db=f"{work}/sim.db", clock="manual", port=1, log_level="warning", tune_gc=True, retention="off"))
    try:
        async with app.router.lifespan_context(app):
            if what == "start":
                return
            if what.startswith("sql-floor"):
                await _sql_floor(app, n, bare=what == "sql-floor-bare")
                return
            if what.startswith("send"):
                path, requests = common.SEND_PATH, p.send_requests()
            else:
                path = "/v1/message"
                requests = await p._bc_requests(app, "text" if what == "bc-text" else "list-picker")

            for first, count in ((0, WARMUP), (WARMUP, n)):
                await asyncio.gather(*(_senders(app, path, requests, k, first, count) for k in range(16)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _stub_send_route(what: str) -> None:
    """Cut a send short, before the app is built: send-noop replaces the route's handler by one that answers 202
    once it has the body; send-validated keeps the real handler and stubs only the backend's store step."""
    from simulator.bird.service import Sender
    from simulator.core.codec import FastJSONResponse

    canned = {"id": "00000000-0000-4000-8000-000000000000", "status": "accepted"}
    if what == "send-validated":
        async def stored(self, channel, request, **kwargs):  # type: ignore[no-untyped-def]
            return canned

        Sender.send = stored  # type: ignore[method-assign]
        return
    from starlette.routing import Route

    from simulator.bird import routes

    async def noop(request):  # type: ignore[no-untyped-def]
        await request.body()
        return FastJSONResponse(canned, status_code=202)

    index = next(i for i, r in enumerate(routes.routes) if r.path.endswith("/messages") and "POST" in r.methods)
    routes.routes[index] = Route(routes.routes[index].path, noop, methods=["POST"])


async def _sql_floor(app, n: int, bare: bool = False) -> None:  # type: ignore[no-untyped-def]
    """The SQL of a steady-state send and nothing else: rows copied from one real send, fresh ids and rowids.
    ``bare``: no list indexes on the message table, no timeline row."""
    import random
    import uuid

    headers, body = p.send_requests()[0]
    await p._asgi_request(app, common.SEND_PATH, headers, body)
    raw = app.state.sim.store.conn._conn
    message = list(raw.execute("SELECT id, workspace_id, channel_id, direction, status, created_at, batch_id, sender,"
                               " recipient, contact_id, reference, tags, data FROM bird_messages").fetchone())
    job = list(raw.execute("SELECT due_at, kind, ref, scope, payload, left_by FROM jobs WHERE kind ="
                           " 'bird.transition'").fetchone())
    timeline = list(raw.execute("SELECT message_id, message_seq, workspace_id, channel_id, event, status, at,"
                                " details FROM bird_status_history").fetchone())
    rng = random.Random(1)
    if bare:
        for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name ="
                                   " 'bird_messages' AND sql IS NOT NULL").fetchall():
            raw.execute(f"DROP INDEX {name}")

    def send(begin: str) -> None:
        message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        message[0] = job[2] = timeline[0] = message_id
        raw.execute(begin).close()
        cursor = raw.execute("INSERT INTO bird_messages (id, workspace_id, channel_id, direction, status, created_at,"
                             " batch_id, sender, recipient, contact_id, reference, tags, data) VALUES"
                             " (?,?,?,?,?,?,?,?,?,?,?,?,?)", message)
        timeline[1] = cursor.lastrowid
        cursor.close()
        raw.executemany("INSERT INTO jobs (due_at, kind, ref, scope, payload, left_by) VALUES (?,?,?,?,?,?)",
                        [job]).close()
        if not bare:
            raw.executemany("INSERT INTO bird_status_history (message_id, message_seq, workspace_id,"
                            " channel_id, event, status, at, details) VALUES (?,?,?,?,?,?,?,?)", [timeline]).close()
        if begin.startswith("SAVEPOINT"):
            raw.execute("RELEASE grouped").close()

    for first, count in ((0, WARMUP), (WARMUP, n)):
        for group in range(first, first + count, 16):
            for i in range(group, min(group + 16, first + count)):
                send("BEGIN IMMEDIATE" if i == group else "SAVEPOINT grouped")
            raw.execute("COMMIT").close()


async def _senders(app, path: str, requests: list, k: int, first: int, count: int) -> None:
    """Sender ``k`` of 16: requests first+k, first+k+16, ... below first+count, through the ASGI app."""
    for i in range(first + k, first + count, 16):
        headers, body = requests[i % len(requests)]
        await p._asgi_request(app, path, headers, body)


def _count(what: str, n: int, out: str) -> int:
    """Instructions of one run of the workload under callgrind."""
    run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
                          __file__, "--inner", what, "--n", str(n), *KEEP], capture_output=True, text=True)
    found = re.search(r"refs:\s+([\d,]+)", run.stderr)
    if run.returncode != 0 or not found:
        raise RuntimeError(f"callgrind run failed: {run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def _by_function(path: str) -> dict[str, int]:
    """Exclusive instructions per function (keyed by name and library file name)."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", path], capture_output=True, text=True).stdout
    out: dict[str, int] = collections.Counter()
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        lib = re.search(r"\[(.*?)\]\s*$", m.group(2))
        name = re.sub(r"\s*\[.*?\]\s*$", "", m.group(2)).split("/")[-1]
        out[f"{name} [{lib.group(1).rsplit('/', 1)[-1] if lib else '?'}]"] += int(m.group(1).replace(",", ""))
    return out


def _per_request(what: str, n: int, tmp: str, top: int = 0) -> float:
    """Instructions per request: a run with n requests less one with none."""
    base = _count(what, 0, f"{tmp}/{what}-base.out")
    full = _count(what, n, f"{tmp}/{what}-full.out")
    per_request = (full - base) / n
    print(f"{what}: {per_request / 1e3:,.1f} k instructions per request"
          f" ({n} requests, 16 concurrent, after {WARMUP} to warm up)")
    if top:
        before, after = _by_function(f"{tmp}/{what}-base.out"), _by_function(f"{tmp}/{what}-full.out")
        per = {k: (after.get(k, 0) - before.get(k, 0)) / n for k in set(before) | set(after)}
        libs: dict[str, float] = collections.Counter()
        for key, value in per.items():
            libs[key.rsplit("[", 1)[-1].rstrip("]")] += value
        print("by library (k instructions per request):",
              ", ".join(f"{lib} {v / 1e3:,.1f}" for lib, v in libs.most_common(8) if v > 500))
        for key, value in sorted(per.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {value / 1e3:8,.1f} k  {key[:140]}")
    return per_request


FLOOR_STEPS = ("limit", "send-noop", "send-validated", "send", "sql-floor", "sql-floor-bare")


def _floor(n: int, tmp: str) -> None:
    """Every layer of a send, then what they mean for the ratio to the limit (two workloads at a time)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        counts = dict(zip(FLOOR_STEPS, pool.map(lambda what: _per_request(what, n, tmp), FLOOR_STEPS), strict=True))
    limit, noop, validated, send, sql, bare = (counts[k] / 1e3 for k in FLOOR_STEPS)
    print()
    print("| layer | k instructions per send | ratio to the limit if a send cost only this |")
    print("|---|---|---|")
    print(f"| the limit (Starlette app parsing the JSON, answering 202) | {limit:,.1f} | 1 |")
    print(f"| our HTTP stack, middleware and journal (send-noop) | {noop:,.1f} | {limit / noop:.2f} |")
    print(f"| + authentication, channel, parsing, validation (send-validated) | +{validated - noop:,.1f} = "
          f"{validated:,.1f} | {limit / validated:.2f} |")
    print(f"| + storing: rows, lifecycle job, listeners, group commit (send) | +{send - validated:,.1f} = "
          f"{send:,.1f} | {limit / send:.3f} |")
    print(f"| the SQL of a send alone, straight through sqlite3 (sql-floor) | {sql:,.1f} | {limit / sql:.2f} |")
    print(f"| floor: send-noop + sql-floor, with no Python of ours between | {noop + sql:,.1f} |"
          f" {limit / (noop + sql):.2f} |")
    print(f"| the same with sql-floor-bare (no list indexes, no timeline row) | {noop + bare:,.1f} |"
          f" {limit / (noop + bare):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["send", "send-noop", "send-validated", "sql-floor", "sql-floor-bare",
                                         "bc-text", "bc-list-picker", "start", "limit", "floor"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--top", type=int, default=0, help="also list the N functions that cost most per request")
    parser.add_argument("--keep-sqlite-stats", action="store_true",
                        help="leave SQLite's memory statistics on (as the in-process Simulator does; serve turns them"
                             " off)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        import uvloop

        uvloop.install()
        if not args.keep_sqlite_stats:
            try:  # as `provider-sim serve` does before it opens its db
                from simulator.core.sqlite_tuning import stop_memory_statistics
            except ImportError:  # a tree from before it existed
                pass
            else:
                stop_memory_statistics()
        asyncio.run(_workload(args.what, args.n))
        return
    if args.keep_sqlite_stats:
        KEEP.append("--keep-sqlite-stats")
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    with tempfile.TemporaryDirectory() as tmp:
        if args.what == "start":
            total = _count("start", 0, f"{tmp}/start.out")
            print(f"start (import the app, run its lifespan): {total / 1e6:,.0f} M instructions")
        elif args.what == "floor":
            _floor(args.n, tmp)
        else:
            _per_request(args.what, args.n, tmp, args.top)
    if os.environ.get("PYTHONPATH"):
        print(f"(PYTHONPATH={os.environ['PYTHONPATH']})")


if __name__ == "__main__":
    main()
