"""Benchmark 2: Business Chat POST /v1/message with JWT verification: a text message and a ~50 KB list picker.
Same format as the Bird send benchmark: interleaved with the limit app (which parses the same JSON, no JWT),
medians of several runs. Skipped with a note when simulator.business_chat is not installed."""
from __future__ import annotations

import base64
import importlib.util
import json
import time
import uuid
from typing import Any

import httpx2 as httpx

import common

BID = "com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:com.apple.icloud.apps.messages.business.extension"


def _bodies(info: dict[str, Any], customer: str, kind: str, n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        mid = str(uuid.UUID(int=i + (1 << 100), version=4))
        env: dict[str, Any] = {"v": 1, "id": mid, "sourceId": info["business"], "destinationId": customer}
        if kind == "text":
            env.update(type="text", body=f"Your table for 2 is confirmed (#{i}).")
        else:
            items = [{"identifier": str(k), "order": k, "style": "default", "title": f"Item {k} " + "x" * 40,
                      "subtitle": "A fairly long description of this menu item, with details. " * 4}
                     for k in range(140)]
            data = {"version": "1.0", "requestIdentifier": mid,
                    "listPicker": {"sections": [{"title": "Menu", "order": 0, "multipleSelection": False,
                                                 "items": items}]}}
            env.update(type="interactive", interactiveData={
                "bid": BID, "data": data, "receivedMessage": {"title": "Choose"}, "replyMessage": {"title": "Thanks"}})
        out.append((mid, json.dumps(env, separators=(",", ":"))))
    return out


def run(runs: int = 3, duration: float = 4.0) -> dict[str, Any]:
    if importlib.util.find_spec("simulator.business_chat") is None:
        return {"skipped": "simulator.business_chat is not installed"}
    import jwt

    sim = common.start_simulator()
    limit = common.start_baseline()
    out: dict[str, Any] = {"summary": {}, "notes": []}
    with common.stopping(sim, limit), httpx.Client(timeout=10) as client:
        raw = client.get(f"{sim.url}/_sim/business-chat").json()
        customers = client.get(f"{sim.url}/_sim/business-chat/customers").json()["customers"]
        info = {"msp": raw["mspId"], "secret": base64.b64decode(raw["secret"]), "business": raw["businesses"][0]}
        token = jwt.encode({"iss": info["msp"], "iat": int(time.time())}, info["secret"], algorithm="HS256")
        for kind, n in (("text", 3000), ("list-picker", 60)):
            bodies = _bodies(info, customers[0]["id"], kind, n)
            # Headers are per connection in the load generator; the per-message `id` header is optional here.
            headers = {"Authorization": f"Bearer {token}", "source-id": info["business"],
                       "destination-id": customers[0]["id"], "Content-Type": "application/json"}
            probe = client.post(f"{sim.url}/v1/message", content=bodies[0][1], headers={**headers, "id": bodies[0][0]})
            size = len(bodies[0][1])
            res: dict[str, Any] = {"body_bytes": size, "probe_status": probe.status_code}
            if probe.status_code >= 300:
                out["notes"].append(f"{kind}: probe answered {probe.status_code}: {probe.text[:300]}")
            for conns in (1, 16):
                s_runs, l_runs = [], []
                for _ in range(runs):
                    s_runs.append(common.loadgen(sim.port, "/v1/message", headers=headers,
                                                 bodies=[{"headers": {"id": i}, "body": b} for i, b in bodies], conns=conns, duration=duration,
                                                 pid=sim.pid))
                    l_runs.append(common.loadgen(limit.port, "/v1/message", headers=headers,
                                                 bodies=[{"headers": {"id": i}, "body": b} for i, b in bodies], conns=conns, duration=duration,
                                                 pid=limit.pid))
                res[conns] = {
                    "rps": common.median([r["rps"] for r in s_runs]),
                    "p50_ms": common.median([r["p50_ms"] for r in s_runs]),
                    "p99_ms": common.median([r["p99_ms"] for r in s_runs]),
                    "status": s_runs[-1]["status"],
                    "limit_rps": common.median([r["rps"] for r in l_runs]),
                    "cpu_us_per_req": common.median([r.get("server_cpu_us_per_req", float("nan")) for r in s_runs]),
                    "limit_cpu_us_per_req": common.median([r.get("server_cpu_us_per_req", float("nan"))
                                                           for r in l_runs]),
                }
                res[conns]["cpu_ratio"] = common.ratio(res[conns]["limit_cpu_us_per_req"], res[conns]["cpu_us_per_req"])
                res[conns]["ratio"] = common.ratio(res[conns]["rps"], res[conns]["limit_rps"])
            out["summary"][kind] = res
    return out


def report(r: dict[str, Any]) -> list[str]:
    if "skipped" in r:
        return ["## Business Chat /v1/message", f"skipped: {r['skipped']}"]
    lines = ["## Business Chat POST /v1/message (JWT HS256 verified per request)",
             "| body | conns | req/s | p50 ms | p99 ms | statuses | limit req/s | ratio | server CPU µs/req (limit) |"
             " CPU ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    for kind, res in r["summary"].items():
        for c in (1, 16):
            s = res[c]
            lines.append(f"| {kind} ({res['body_bytes']} B) | {c} | {s['rps']} | {s['p50_ms']} | {s['p99_ms']} |"
                         f" {s['status']} | {s['limit_rps']} | {s['ratio']} | {s.get('cpu_us_per_req')}"
                         f" ({s.get('limit_cpu_us_per_req')}) | {s.get('cpu_ratio')} |")
    lines += [f"note: {n}" for n in r["notes"]]
    return lines
