"""A small keep-alive HTTP/1.1 load generator on asyncio streams (uvloop when available).

Runs in its own process (``python bench/loadgen.py '<json spec>'``) so it never shares an event loop or a GIL
with the server under test. Only talks to 127.0.0.1. Bounded in time: every run lasts ``duration`` seconds.

Spec: {"port": int, "method": "POST", "path": "/x", "headers": {...}, "body": "<text>", "bodies": [...]
       "conns": 16, "duration": 5.0, "warmup": 0.5}
Prints one JSON line: {"requests", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "status": {code: n}, "errors"}.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

HOST = "127.0.0.1"


def _request_bytes(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value)
        elif lname == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _worker(port: int, payloads: list[bytes], start: float, measure_from: float, stop: float,
                  latencies: list[float], statuses: dict[int, int], errors: list[str], offset: int,
                  answered: list[int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    i = offset
    n = len(payloads)
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                break
            writer.write(payloads[i % n])
            i += 1
            status = await _read_response(reader)
            t1 = time.perf_counter()
            answered[0] += 1
            if t0 >= measure_from:
                latencies.append(t1 - t0)
                statuses[status] = statuses.get(status, 0) + 1
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    headers = dict(spec.get("headers") or {})
    bodies = spec.get("bodies") or [spec.get("body", "")]
    # A body is a string, or {"headers": {...}, "body": "..."} for per-request headers (e.g. a message id).
    payloads = [_request_bytes(spec.get("method", "GET"), spec["path"],
                               {**headers, **(b.get("headers") or {})} if isinstance(b, dict) else headers,
                               (b["body"] if isinstance(b, dict) else b).encode()) for b in bodies]
    conns = int(spec.get("conns", 1))
    duration = float(spec.get("duration", 5.0))
    warmup = float(spec.get("warmup", 0.5))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    answered = [0]  # every response, warm-up included (the server's CPU time covers those too)
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + duration
    await asyncio.gather(*(
        _worker(spec["port"], payloads, start, measure_from, stop, latencies, statuses, errors, k * 7919, answered)
        for k in range(conns)))
    latencies.sort()
    count = len(latencies)

    def pct(p: float) -> float:
        return round(latencies[min(count - 1, int(p * count))] * 1000, 3) if count else float("nan")

    return {"requests": count, "rps": round(count / duration, 1), "p50_ms": pct(0.50), "p90_ms": pct(0.90),
            "p99_ms": pct(0.99), "max_ms": round(latencies[-1] * 1000, 3) if count else float("nan"),
            "status": {str(k): v for k, v in sorted(statuses.items())}, "errors": errors[:5], "conns": conns,
            "duration_s": duration, "answered": answered[0]}


def main() -> None:
    spec = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
