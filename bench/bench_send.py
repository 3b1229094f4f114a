"""Benchmark 1: Bird send (validate + persist + schedule lifecycle) against "the limit" and, if installed, Prism.

Same run, interleaved: simulator c=1, limit c=1, simulator c=16, limit c=16, ... repeated ``runs`` times;
medians reported. Targets: >= 60 % of the limit's throughput, p99 < 20 ms at 16 connections, >= 2x Prism.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import common

CONNS = (1, 16)


def _prism_cmd() -> list[str] | None:
    binary = common.BENCH / ".node" / "node_modules" / ".bin" / "prism"
    return [str(binary)] if binary.exists() else None


def start_prism() -> common.Proc | None:
    cmd = _prism_cmd()
    if cmd is None or shutil.which("node") is None:
        return None
    spec = common.BENCH / "prism-send.yaml"
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    common.RESULTS.mkdir(exist_ok=True)
    log = open(common.RESULTS / "prism.log", "w")
    t0 = time.perf_counter()
    common.workdir()  # before the child starts: it inherits TMPDIR, and exit stops it
    popen = subprocess.Popen([*cmd, "mock", str(spec), "-h", "127.0.0.1", "-p", str(port), "-v", "error"],
                             stdout=log, stderr=subprocess.STDOUT, text=True)
    proc = common.track(common.Proc(popen, port, 0.0, Path(log.name)))
    import httpx2 as httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            r = httpx.post(f"http://127.0.0.1:{port}{common.SEND_PATH}", content=common.send_body(1),
                           headers={**common.AUTH, "Content-Type": "application/json"}, timeout=1)
            if r.status_code < 500:
                proc.started_s = time.perf_counter() - t0
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.stop()
    return None


def run(runs: int = 3, duration: float = 5.0) -> dict[str, Any]:
    headers = {**common.AUTH, "Content-Type": "application/json"}
    bodies = [common.send_body(i) for i in range(500)]
    sim = common.start_simulator()
    base = common.start_baseline()
    prism = start_prism()
    targets: dict[str, common.Proc] = {"simulator": sim, "limit": base}
    notes: list[str] = []
    if prism is not None:
        targets["prism"] = prism
    else:
        notes.append("Prism not measured: bench/.node/node_modules/.bin/prism is not installed "
                     "(npm install --prefix bench/.node @stoplight/prism-cli)")
    raw: dict[str, dict[int, list[dict[str, Any]]]] = {name: {c: [] for c in CONNS} for name in targets}
    libs = {name: common.loaded_libraries(p.pid) for name, p in targets.items() if name != "prism"}
    with common.stopping(*targets.values()):
        for name, proc in targets.items():  # warm-up (JIT for node, caches for everyone)
            common.loadgen(proc.port, common.SEND_PATH, headers=headers, bodies=bodies, conns=4, duration=1.0,
                           warmup=0.0)
        for _ in range(runs):
            for conns in CONNS:
                for name, proc in targets.items():
                    raw[name][conns].append(common.loadgen(proc.port, common.SEND_PATH, headers=headers,
                                                           bodies=bodies, conns=conns, duration=duration,
                                                           pid=proc.pid))
        sim_rss = common.rss_mb(sim.pid)
        stored = None
        try:
            import httpx2 as httpx

            r = httpx.get(f"{sim.url}/workspaces/{common.WS}/messages?limit=1", headers=common.AUTH, timeout=5)
            stored = r.status_code
        except Exception:  # noqa: BLE001
            pass
    summary: dict[str, Any] = {}
    for name in targets:
        summary[name] = {}
        for conns in CONNS:
            rs = raw[name][conns]
            summary[name][conns] = {
                "rps": common.median([r["rps"] for r in rs]),
                "p50_ms": common.median([r["p50_ms"] for r in rs]),
                "p99_ms": common.median([r["p99_ms"] for r in rs]),
                "cpu_us_per_req": common.median([r.get("server_cpu_us_per_req", float("nan")) for r in rs]),
                "cpu_share": common.median([r.get("server_cpu_share", float("nan")) for r in rs]),
                "non_2xx": sum(v for r in rs for k, v in r["status"].items() if not k.startswith("2")),
                "runs": len(rs),
            }
    ratios = {c: common.ratio(summary["simulator"][c]["rps"], summary["limit"][c]["rps"]) for c in CONNS}
    # Server CPU per request, limit / simulator: the efficiency ratio, steadier than req/s on a noisy host
    # (the load generator shares the 2 cores, so req/s also measures how much CPU the server got).
    cpu_ratios = {c: common.ratio(summary["limit"][c]["cpu_us_per_req"], summary["simulator"][c]["cpu_us_per_req"])
                  for c in CONNS}
    out: dict[str, Any] = {"summary": summary, "ratio_vs_limit": ratios, "cpu_ratio_vs_limit": cpu_ratios,
                           "libraries": libs, "notes": notes,
                           "simulator_rss_mb_after": sim_rss, "list_status": stored, "raw": raw}
    out["targets"] = {
        "throughput >= 60% of limit (c=16)": common.verdict(ratios[16] >= 0.6),
        "p99 < 20 ms (c=16)": common.verdict(summary["simulator"][16]["p99_ms"] < 20),
    }
    if "prism" in summary:
        out["ratio_vs_prism"] = {c: common.ratio(summary["simulator"][c]["rps"], summary["prism"][c]["rps"])
                                 for c in CONNS}
        out["targets"][">= 2x Prism (c=16)"] = common.verdict(out["ratio_vs_prism"][16] >= 2)
    return out


def report(result: dict[str, Any]) -> list[str]:
    lines = ["## Bird send (POST .../messages, keep-alive, loopback)"]
    lines.append("| target | conns | req/s | p50 ms | p99 ms | server CPU µs/req | server CPU use | non-2xx |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for name, by_c in result["summary"].items():
        for c, s in by_c.items():
            lines.append(f"| {name} | {c} | {s['rps']} | {s['p50_ms']} | {s['p99_ms']} | {s.get('cpu_us_per_req')} |"
                         f" {s.get('cpu_share')} | {s['non_2xx']} |")
    lines.append(f"ratio simulator/limit: c=1 {result['ratio_vs_limit'][1]}, c=16 {result['ratio_vs_limit'][16]}")
    if "cpu_ratio_vs_limit" in result:
        cr = result["cpu_ratio_vs_limit"]
        lines.append(f"CPU-per-request ratio limit/simulator: c=1 {cr[1]}, c=16 {cr[16]}")
    if "ratio_vs_prism" in result:
        lines.append(f"ratio simulator/prism: c=1 {result['ratio_vs_prism'][1]}, c=16 {result['ratio_vs_prism'][16]}")
    lines.append(f"loaded: {result['libraries']}")
    lines += [f"target {k}: {v}" for k, v in result["targets"].items()]
    lines += [f"note: {n}" for n in result["notes"]]
    return lines
