"""A fleet: `provider-sim serve --workers N` on PostgreSQL with 1, 2 and 4 workers, Bird send at 16 and 64
connections, beside the limit (and Prism, when installed) in the same run.

Reported per point: throughput, p99, CPU per send of the whole fleet (supervisor and workers) and of the PostgreSQL
server's processes, what the load generator itself took (on a machine with few cores it competes with both), the
CPU per send relative to one worker (target: flat within 15 % from 1 to 4 workers, so that throughput grows with
cores) and the scaling efficiency, throughput with N workers / (N x one worker), which only means something where
the machine has the cores for N workers, PostgreSQL and the load generator.
"""
from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

import bench_postgres
import bench_send
import common

WORKERS = (1, 2, 4)
CONNS = (16, 64)


def _tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and every process below it (the supervisor's workers)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(proc.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += common.cpu_seconds(pid)
        todo += children.get(pid, [])
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _point(proc: common.Proc, conns: int, duration: float, pg: bench_postgres.PostgresServer | None,
           path: str, headers: dict[str, str], bodies: list[str]) -> dict[str, Any]:
    sim0, db0, gen0 = _tree_cpu(proc.pid), pg.cpu_seconds() if pg else 0.0, _children_cpu()
    result = common.loadgen(proc.port, path, headers=headers, bodies=bodies, conns=conns, duration=duration)
    wrong = {status: n for status, n in result.get("status", {}).items() if not status.startswith("2")}
    if wrong or result.get("errors") or not result.get("answered"):
        raise RuntimeError(f"port {proc.port} answered {wrong} {result.get('errors', [])[:3]}")
    answered = result["answered"]
    out = {"rps": result["rps"], "p99_ms": result["p99_ms"],
           "cpu_us_per_req": round((_tree_cpu(proc.pid) - sim0) / answered * 1e6, 1),
           "loadgen_cpu_us_per_req": round((_children_cpu() - gen0) / answered * 1e6, 1)}
    if pg is not None:
        out["db_cpu_us_per_req"] = round((pg.cpu_seconds() - db0) / answered * 1e6, 1)
    return out


def run(runs: int = 2, duration: float = 4.0) -> dict[str, Any]:
    pg = bench_postgres.PostgresServer()
    headers = {**common.AUTH, "Content-Type": "application/json"}
    bodies = [common.send_body(i) for i in range(500)]
    try:
        fleets = {n: common.start_simulator(db=pg.database(), extra_args=["--workers", str(n)]) for n in WORKERS}
        limit = common.start_baseline()
        prism = bench_send.start_prism()
        others = {"limit": limit, **({"prism": prism} if prism is not None else {})}
        with common.stopping(limit, *fleets.values(), *([prism] if prism is not None else [])):
            for n, proc in fleets.items():  # every worker up before any load (each joins the fleet)
                _wait_for_members(proc, n)
            targets: dict[str, common.Proc] = {**{f"workers={n}": p for n, p in fleets.items()}, **others}
            for proc in targets.values():  # warm-up
                common.loadgen(proc.port, common.SEND_PATH, headers=headers, bodies=bodies, conns=8, duration=1.0,
                               warmup=0.0)
            raw: dict[str, dict[int, list[dict[str, Any]]]] = {t: {c: [] for c in CONNS} for t in targets}
            for _ in range(runs):  # interleaved: the host's noise falls on every target alike
                for conns in CONNS:
                    for name, proc in targets.items():
                        on_pg = pg if name.startswith("workers=") else None
                        raw[name][conns].append(_point(proc, conns, duration, on_pg, common.SEND_PATH, headers,
                                                       bodies))
        summary = {name: {conns: {key: common.median([r[key] for r in rs if key in r])
                                  for key in ("rps", "p99_ms", "cpu_us_per_req", "db_cpu_us_per_req",
                                              "loadgen_cpu_us_per_req") if key in rs[0]}
                          for conns, rs in by_conns.items()} for name, by_conns in raw.items()}
        one = summary["workers=1"]
        scaling = {n: {c: {"cpu_per_send_vs_1": common.ratio(summary[f"workers={n}"][c]["cpu_us_per_req"],
                                                            one[c]["cpu_us_per_req"]),
                           "efficiency": common.ratio(summary[f"workers={n}"][c]["rps"], n * one[c]["rps"])}
                       for c in CONNS} for n in WORKERS}
        flat = all(scaling[n][c]["cpu_per_send_vs_1"] <= 1.15 for n in WORKERS for c in CONNS)
        out: dict[str, Any] = {"summary": summary, "scaling": scaling, "cores": os.cpu_count(),
                               "postgres": (pg.external and "external server") or "throwaway server, fsync off",
                               "targets": {"CPU per send within 15 % from 1 to 4 workers": common.verdict(flat)}}
        if "prism" in summary and (os.cpu_count() or 1) >= 4:
            best = max(summary[f"workers={n}"][16]["rps"] for n in WORKERS)
            out["targets"][">= 2x Prism (16 connections, >= 4 cores)"] = common.verdict(
                best >= 2 * summary["prism"][16]["rps"])
        return out
    finally:
        pg.close()


def _wait_for_members(proc: common.Proc, count: int) -> None:
    import httpx2 as httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            members = httpx.get(f"{proc.url}/_sim/info", timeout=5).json()["fleet"]["members"]
            if sum(1 for m in members if m["live"]) >= count:
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the fleet on port {proc.port} never had {count} live members")


def report(result: dict[str, Any]) -> list[str]:
    lines = ["## fleet (Bird send, serve --workers N on PostgreSQL)",
             f"PostgreSQL: {result['postgres']}; cores: {result['cores']}"]
    for conns in CONNS:
        for name, by_conns in result["summary"].items():
            r = by_conns[conns]
            extra = ""
            if "db_cpu_us_per_req" in r:
                extra = f", PostgreSQL {r['db_cpu_us_per_req']} µs"
            lines.append(f"c={conns} {name}: {r['rps']} req/s, p99 {r['p99_ms']} ms, CPU {r['cpu_us_per_req']} µs/send"
                         f"{extra}, load generator {r['loadgen_cpu_us_per_req']} µs")
    for n, by_conns in result["scaling"].items():
        lines.append(f"workers={n}: " + "; ".join(
            f"c={c} CPU/send x{s['cpu_per_send_vs_1']} of 1 worker, efficiency {s['efficiency']}"
            for c, s in by_conns.items()))
    lines += [f"{target}: {verdict}" for target, verdict in result["targets"].items()]
    return lines
