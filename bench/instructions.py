"""Instructions per request, counted by valgrind's callgrind: the same count on a quiet host and on a noisy one, so
two versions of the code compare exactly where timings cannot (run it on both trees: `PYTHONPATH=<worktree>`).

A workload is driven in-process through the ASGI app (16 concurrent senders, as in profile_inprocess.py) twice,
with 0 and with N measured requests after the same warm-up: the difference over N is what one request costs, with
start-up and warm-up cancelled out. Repeated runs agree to within ~1 %. `start` counts importing the app and running
its lifespan (what `provider-sim serve` does before it listens). callgrind runs code ~50x slower: ~1 min a workload.
Counts weigh instructions alike and overstate OpenSSL: under valgrind it cannot use SHA-NI or AES-NI (a 50 KB SHA-1
counts ~600 k instructions and takes 27 us natively). Use it to compare versions, not as a time.

`limit` counts "the limit" (bench/baseline_app.py) answering the same sends, driven the same way.

Run: .venv/bin/python bench/instructions.py send|bc-text|bc-list-picker|limit|start [--n 1000] [--top 25]
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

    work = tempfile.mkdtemp(prefix="instructions-")
    app = create_app(Settings(db=f"{work}/sim.db", clock="manual", port=1, log_level="warning", tune_gc=True))
    try:
        async with app.router.lifespan_context(app):
            if what == "start":
                return
            if what == "send":
                path, requests = common.SEND_PATH, p.send_requests()
            else:
                path = "/v1/message"
                requests = await p._bc_requests(app, "text" if what == "bc-text" else "list-picker")

            for first, count in ((0, WARMUP), (WARMUP, n)):
                await asyncio.gather(*(_senders(app, path, requests, k, first, count) for k in range(16)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _senders(app, path: str, requests: list, k: int, first: int, count: int) -> None:
    """Sender ``k`` of 16: requests first+k, first+k+16, ... below first+count, through the ASGI app."""
    for i in range(first + k, first + count, 16):
        headers, body = requests[i % len(requests)]
        await p._asgi_request(app, path, headers, body)


def _count(what: str, n: int, out: str) -> int:
    """Instructions of one run of the workload under callgrind."""
    run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
                          __file__, "--inner", what, "--n", str(n)], capture_output=True, text=True)
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


def _per_request(args: argparse.Namespace, tmp: str) -> None:
    """Instructions per request: a run with args.n requests less one with none."""
    base = _count(args.what, 0, f"{tmp}/base.out")
    full = _count(args.what, args.n, f"{tmp}/full.out")
    print(f"{args.what}: {(full - base) / args.n / 1e3:,.1f} k instructions per request"
          f" ({args.n} requests, 16 concurrent, after {WARMUP} to warm up)")
    if args.top:
        before, after = _by_function(f"{tmp}/base.out"), _by_function(f"{tmp}/full.out")
        per = {k: (after.get(k, 0) - before.get(k, 0)) / args.n for k in set(before) | set(after)}
        libs: dict[str, float] = collections.Counter()
        for key, value in per.items():
            libs[key.rsplit("[", 1)[-1].rstrip("]")] += value
        print("by library (k instructions per request):",
              ", ".join(f"{lib} {v / 1e3:,.1f}" for lib, v in libs.most_common(8) if v > 500))
        for key, value in sorted(per.items(), key=lambda kv: -kv[1])[:args.top]:
            print(f"  {value / 1e3:8,.1f} k  {key[:140]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["send", "bc-text", "bc-list-picker", "start", "limit"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--top", type=int, default=0, help="also list the N functions that cost most per request")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        import uvloop

        uvloop.install()
        asyncio.run(_workload(args.what, args.n))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    with tempfile.TemporaryDirectory() as tmp:
        if args.what == "start":
            total = _count("start", 0, f"{tmp}/start.out")
            print(f"start (import the app, run its lifespan): {total / 1e6:,.0f} M instructions")
        else:
            _per_request(args, tmp)
    if os.environ.get("PYTHONPATH"):
        print(f"(PYTHONPATH={os.environ['PYTHONPATH']})")


if __name__ == "__main__":
    main()
