"""Bird send at 16 connections, five consecutive 5 s runs on one simulator: throughput and tail latency as the
db grows (checkpointing and WAL restarts show up here, not in a single short run).

Run: .venv/bin/python bench/send_growth.py [--runs 5] [--duration 5]
"""
from __future__ import annotations

import argparse

import common


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    headers = {**common.AUTH, "Content-Type": "application/json"}
    bodies = [common.send_body(i) for i in range(500)]
    sim = common.start_simulator()
    try:
        print("| run | req/s | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
        for run in range(1, args.runs + 1):
            r = common.loadgen(sim.port, common.SEND_PATH, headers=headers, bodies=bodies, conns=16,
                               duration=args.duration)
            print(f"| {run} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |")
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
