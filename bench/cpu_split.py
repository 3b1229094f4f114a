"""Bird send at 16 connections on a fresh simulator, with the server's CPU per request split by thread (user and
system time from /proc): shows where a send's CPU goes (the event-loop thread vs the checkpoint thread) and is
steady enough to A/B two versions of a file on a noisy host (run them interleaved).

Run: .venv/bin/python bench/cpu_split.py [--duration 8] [--label NAME]
"""
from __future__ import annotations

import argparse
import glob
import os

import common


def _threads(pid: int) -> dict[str, tuple[int, int]]:
    out = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        fields = open(f"{task}/stat").read().rsplit(")", 1)[1].split()
        out[task.rsplit("/", 1)[1]] = (int(fields[11]), int(fields[12]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--label", default="simulator")
    args = parser.parse_args()
    headers = {**common.AUTH, "Content-Type": "application/json"}
    bodies = [common.send_body(i) for i in range(500)]
    sim = common.start_simulator()
    with common.stopping(sim):
        common.loadgen(sim.port, common.SEND_PATH, headers=headers, bodies=bodies, conns=4, duration=1.0, warmup=0.0)
        before, io_before = _threads(sim.pid), common.written(sim.pid)
        r = common.loadgen(sim.port, common.SEND_PATH, headers=headers, bodies=bodies, conns=16,
                           duration=args.duration, pid=sim.pid)
        after, io_after = _threads(sim.pid), common.written(sim.pid)
    tick, n = os.sysconf("SC_CLK_TCK"), max(r["answered"], 1)
    print(f"{args.label}: {r['rps']} req/s, p99 {r['p99_ms']} ms, max {r['max_ms']} ms;"
          f" server {r['server_cpu_us_per_req']} µs CPU per request")
    # Counts, not timings: steady on a noisy host (WAL frames, checkpoint copies, any spilled temp file, sockets).
    print(f"  written: {(io_after[0] - io_before[0]) / n / 1024:.1f} KB in {(io_after[1] - io_before[1]) / n:.1f}"
          " write calls per request")
    for tid, (user, system) in sorted(after.items(), key=lambda kv: -sum(kv[1])):
        u0, s0 = before.get(tid, (0, 0))
        du, ds = (user - u0) / tick, (system - s0) / tick
        if du + ds > 0.01:
            print(f"  thread {tid}: user {du / n * 1e6:.0f} µs + system {ds / n * 1e6:.0f} µs per request")


if __name__ == "__main__":
    main()
