"""The simulator on PostgreSQL beside the same simulator on SQLite and "the limit", in one run: a Bird send and a
Business Chat text at 1 and 16 connections (CPU per request of the simulator and, on PostgreSQL, of the database
server's processes), an advance of one hour over 100,000 messages in flight (written through the batch API on both
stores), and a full reset.

The PostgreSQL server is a throwaway one (simulator/testing_postgres.py: fsync off, as a test server) unless
PROVIDER_SIM_BENCH_POSTGRES names a server URL to create the databases on (postgresql://user@host:port).
Target: a send on PostgreSQL costs at most 1.5x the simulator CPU of a send on SQLite.
"""
from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import bench_business_chat
import common
import httpx2 as httpx

CONNS = (1, 16)
IN_FLIGHT = 100_000


class PostgresServer:
    """The server the simulator's PostgreSQL databases live on, and the CPU its processes use."""

    def __init__(self) -> None:
        self.external = os.environ.get("PROVIDER_SIM_BENCH_POSTGRES")
        self._own = None
        if not self.external:
            from simulator.testing_postgres import ThrowawayPostgres

            self._own = ThrowawayPostgres().start()
        self._made = 0

    def database(self) -> str:
        self._made += 1
        name = f"bench_{os.getpid()}_{self._made}"
        if self._own is not None:
            return self._own.create_database(name)
        import asyncio

        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(f"{self.external}/postgres")
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return f"{self.external}/{name}"

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, writers): empty for an external server."""
        if self._own is None:
            return []
        try:
            root = int((self._own.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        found = [root]
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == root:
                        found.append(int(proc.name))
                except (OSError, ValueError, IndexError):
                    continue
        return found

    def cpu_seconds(self) -> float:
        return sum(common.cpu_seconds(pid) for pid in self.pids())

    def close(self) -> None:
        if self._own is not None:
            self._own.close()


def _load(proc: common.Proc, path: str, headers: dict[str, str], bodies: list[str], conns: int, duration: float,
          pg: PostgresServer | None) -> dict[str, Any]:
    before = pg.cpu_seconds() if pg else 0.0
    result = common.loadgen(proc.port, path, headers=headers, bodies=bodies, conns=conns, duration=duration,
                            pid=proc.pid)
    wrong = {status: n for status, n in result.get("status", {}).items() if not status.startswith("2")}
    if wrong or result.get("errors"):  # a figure over error answers measures the wrong thing
        raise RuntimeError(f"{path} on port {proc.port} answered {wrong} {result.get('errors', [])[:3]}")
    if pg is not None and result.get("answered"):
        result["db_cpu_us_per_req"] = round((pg.cpu_seconds() - before) / result["answered"] * 1e6, 1)
    return result


def _bc(sim: common.Proc) -> tuple[str, dict[str, str], list[Any]]:
    import jwt

    with httpx.Client(timeout=10) as client:
        raw = client.get(f"{sim.url}/_sim/business-chat").json()
        customer = client.get(f"{sim.url}/_sim/business-chat/customers").json()["customers"][0]["id"]
    info = {"msp": raw["mspId"], "secret": base64.b64decode(raw["secret"]), "business": raw["businesses"][0]}
    token = jwt.encode({"iss": info["msp"], "iat": int(time.time())}, info["secret"], algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}", "source-id": info["business"], "destination-id": customer,
               "Content-Type": "application/json"}
    return "/v1/message", headers, [{"headers": {"id": message_id}, "body": body}
                                    for message_id, body in bench_business_chat._bodies(info, customer, "text", 3000)]


def _fill(sim: common.Proc, count: int) -> float:
    """``count`` messages in flight, written through the batch API (100 a request); seconds it took."""
    t0 = time.perf_counter()
    with httpx.Client(base_url=sim.url, headers=common.AUTH, timeout=60) as client:
        for start in range(0, count, 100):
            items = [json.loads(common.send_body(start + i)) for i in range(100)]
            r = client.post(f"/workspaces/{common.WS}/channels/{common.CH_NL}/batch/messages",
                            json={"messageRequests": items})
            r.raise_for_status()
    return time.perf_counter() - t0


def _advance(sim: common.Proc, pg: PostgresServer | None) -> dict[str, Any]:
    fill_s = _fill(sim, IN_FLIGHT)
    cpu0, db0 = common.cpu_seconds(sim.pid), pg.cpu_seconds() if pg else 0.0
    t0 = time.perf_counter()
    r = httpx.post(f"{sim.url}/_sim/clock/advance", json={"seconds": 3600}, timeout=3600)
    r.raise_for_status()
    out = {"fill_s": round(fill_s, 1), "advance_1h_s": round(time.perf_counter() - t0, 2),
           "jobs_run": r.json().get("ran"), "sim_cpu_s": round(common.cpu_seconds(sim.pid) - cpu0, 2)}
    if pg is not None:
        out["db_cpu_s"] = round(pg.cpu_seconds() - db0, 2)
    return out


def _reset_ms(sim: common.Proc, n: int = 50) -> float:
    with httpx.Client(base_url=sim.url, timeout=30) as client:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.post("/_sim/reset").raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return round(common.median(times), 2)


def run(runs: int = 2, duration: float = 4.0, advance: bool = True) -> dict[str, Any]:
    pg = PostgresServer()
    try:
        sims = {"sqlite": common.start_simulator(), "postgresql": common.start_simulator(db=pg.database())}
        limit = common.start_baseline()
        send_headers = {**common.AUTH, "Content-Type": "application/json"}
        send_bodies = [common.send_body(i) for i in range(500)]
        summary: dict[str, Any] = {}
        with common.stopping(limit, *sims.values()):
            bc = {name: _bc(proc) for name, proc in sims.items()}
            workloads: dict[str, dict[str, tuple[common.Proc, str, dict[str, str], list[str], bool]]] = {
                "send": {"limit": (limit, common.SEND_PATH, send_headers, send_bodies, False),
                         **{name: (proc, common.SEND_PATH, send_headers, send_bodies, name == "postgresql")
                            for name, proc in sims.items()}},
                "bc-text": {name: (proc, *bc[name], name == "postgresql") for name, proc in sims.items()},
            }
            for work, targets in workloads.items():
                raw: dict[str, dict[int, list[dict[str, Any]]]] = {t: {c: [] for c in CONNS} for t in targets}
                for proc, path, headers, bodies, _ in targets.values():  # warm-up
                    common.loadgen(proc.port, path, headers=headers, bodies=bodies, conns=4, duration=1.0, warmup=0.0)
                for _ in range(runs):  # interleaved: the host's noise falls on every target alike
                    for conns in CONNS:
                        for name, (proc, path, headers, bodies, on_pg) in targets.items():
                            raw[name][conns].append(_load(proc, path, headers, bodies, conns, duration,
                                                          pg if on_pg else None))
                summary[work] = {name: {conns: {
                    "rps": common.median([r["rps"] for r in rs]),
                    "p99_ms": common.median([r["p99_ms"] for r in rs]),
                    "cpu_us_per_req": common.median([r.get("server_cpu_us_per_req", float("nan")) for r in rs]),
                    **({"db_cpu_us_per_req": common.median([r["db_cpu_us_per_req"] for r in rs])}
                       if "db_cpu_us_per_req" in rs[0] else {}),
                } for conns, rs in by_conns.items()} for name, by_conns in raw.items()}
            resets = {name: _reset_ms(proc) for name, proc in sims.items()}
            advances = {name: _advance(proc, pg if name == "postgresql" else None)
                        for name, proc in sims.items()} if advance else {}
        ratio = {work: {c: common.ratio(summary[work]["postgresql"][c]["cpu_us_per_req"],
                                        summary[work]["sqlite"][c]["cpu_us_per_req"]) for c in CONNS}
                 for work in summary}
        out: dict[str, Any] = {"summary": summary, "reset_p50_ms": resets, "advance": advances,
                               "cpu_ratio_postgresql_to_sqlite": ratio,
                               "postgres": (pg.external and "external server") or "throwaway server, fsync off"}
        out["targets"] = {"send on PostgreSQL <= 1.5x the simulator CPU on SQLite (c=16)":
                          common.verdict(ratio["send"][16] <= 1.5)}
        return out
    finally:
        pg.close()


def report(result: dict[str, Any]) -> list[str]:
    lines = [f"PostgreSQL: {result['postgres']}"]
    for work, targets in result["summary"].items():
        for conns in CONNS:
            parts = []
            for name, by_conns in targets.items():
                r = by_conns[conns]
                db = f" + db {r['db_cpu_us_per_req']:.0f} µs" if "db_cpu_us_per_req" in r else ""
                parts.append(f"{name} {r['rps']:.0f} req/s, p99 {r['p99_ms']:.1f} ms, {r['cpu_us_per_req']:.0f} µs{db}")
            lines.append(f"{work} c={conns}: " + "; ".join(parts)
                         + f"  (PostgreSQL/SQLite CPU {result['cpu_ratio_postgresql_to_sqlite'][work][conns]})")
    lines.append(f"reset p50: {result['reset_p50_ms']}")
    for name, a in result.get("advance", {}).items():
        lines.append(f"advance 1 h over {IN_FLIGHT:,} in flight on {name}: {a}")
    return lines


if __name__ == "__main__":
    import sys

    res = run(advance="--no-advance" not in sys.argv)
    print("\n".join(report(res)))
    print(json.dumps(res["targets"]))
