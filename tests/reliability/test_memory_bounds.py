"""Memory stays bounded under hostile requests (issue: hostile input), measured on a `provider-sim serve` process:
its peak resident set (VmHWM, reset after a warm-up) may grow by at most GROWTH_MB while it answers a gzip bomb,
uploads to unknown or used-up upload URLs, bodies larger than the size /preUpload declared (with and without
Content-Length, several at once), a 32 MB header, 10,000 headers and the largest JSON bodies that fit the body
limit. Each answer is checked too: the provider's 4xx, or 431 for the head."""
from __future__ import annotations

import gzip
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from _support import AUTH, CH, WS, serve

sys.path.insert(0, str(Path(__file__).parents[1] / "business_chat"))
from bc_msp import BUILTIN_BID, MSP  # noqa: E402 - the Business Chat tests' MSP, found beside them

GROWTH_MB = 40  # "a few tens of MB": what any of these may add to the server's peak
MB = 1024 * 1024


def status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


class _Sim:
    """What MSP needs of a simulator: an HTTP client on it."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=60)


def stream(total: int, chunk: int = MB) -> Iterator[bytes]:
    block = b"\0" * chunk
    for _ in range(total // chunk):
        yield block


def raw_request(port: int, head: bytes) -> bytes:
    """Send a request head over a plain socket; the status line of the answer (b"" if the connection closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head)
        except OSError:
            pass  # the server may stop reading (and close) once it has answered
        try:
            return sock.recv(4096).split(b"\r\n", 1)[0]
        except OSError:
            return b""


def upload_ticket(msp: MSP, size: int) -> str:
    pre = msp.http.get("/v1/preUpload", headers=msp.headers(**{"MMCS-Size": str(size)}))
    assert pre.status_code == 200, pre.text
    return str(pre.json()["upload-url"])


def test_hostile_requests_keep_the_server_within_a_few_tens_of_mb(db: Any, tmp_path: Path) -> None:
    served = serve(db(), tmp_path)
    sim = _Sim(served.url)
    try:
        pid, url, port = served.proc.pid, served.url, served.port
        msp = MSP(sim)
        bird = f"/workspaces/{WS}/channels/{CH}/messages"

        # Warm-up: every path below once with a harmless request, so imports and caches are not counted.
        idr = gzip.compress(json.dumps({"bid": BUILTIN_BID, "data": {"version": "1.0"}}).encode())
        assert msp.http.post("/v1/decodePayload", content=idr, headers=msp.headers(bid=BUILTIN_BID)).status_code == 200
        ok = httpx.post(upload_ticket(msp, 1000), content=b"x" * 1000, timeout=30)
        assert ok.status_code == 200, ok.text
        assert sim.http.post(bird, json={"x": 1}, headers=AUTH).status_code == 422
        assert raw_request(port, b"GET /_sim/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").endswith(b"200 OK")
        growth: dict[str, int] = {}
        before = {"VmRSS": 0}

        def measured(label: str) -> None:
            """The peak's growth over the resident set before ``label``'s requests; the peak starts again."""
            nonlocal before
            if label:
                growth[label] = status(pid)["VmHWM"] - before["VmRSS"]
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM starts again from VmRSS
            before = status(pid)

        measured("")

        # A gzip bomb: about 260 KB that inflate to 256 MB.
        bomb = gzip.compress(bytes(256 * MB), compresslevel=9)
        answer = msp.http.post("/v1/decodePayload", content=bomb, headers=msp.headers(bid=BUILTIN_BID))
        assert answer.status_code == 413 and set(answer.json()) >= {"code", "message"}, answer.text
        measured("gzip bomb")

        # The upload URL is the credential: an unknown one, and a used one, are refused before the body is read.
        unknown = httpx.post(f"{url}/v1/mmcs/upload/{'0' * 40}", content=stream(64 * MB), timeout=120)
        assert unknown.status_code == 404, unknown.text
        used = httpx.post(ok.request.url, content=stream(32 * MB), timeout=120)
        assert used.status_code == 400, used.text
        measured("unknown and used upload URLs")

        # More than /preUpload declared, said by Content-Length or found while streaming; four at once.
        said = httpx.post(upload_ticket(msp, 1000), content=b"\0" * (64 * MB), timeout=120)
        assert said.status_code == 400 and "declared size 1000" in said.json()["message"], said.text
        answers: list[int] = []

        def oversized() -> None:
            answers.append(httpx.post(upload_ticket(msp, 1000), content=stream(48 * MB), timeout=120).status_code)

        threads = [threading.Thread(target=oversized) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [400] * 4
        measured("bodies over the declared size")

        # The request head: 32 MB in one header, and 10,000 headers.
        head = b"GET /_sim/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (32 * MB) + b"\r\n\r\n"
        assert raw_request(port, head).startswith(b"HTTP/1.1 431")
        many = b"GET /_sim/health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(10_000))
        assert raw_request(port, many + b"\r\n").startswith(b"HTTP/1.1 431")
        measured("header bombs")

        # The largest JSON bodies within the body limit, each as many small values as fit.
        for filler in (b"[]", b"{}", b'""', b"0.5"):
            count = (2 * MB - 16) // (len(filler) + 1)
            body = b"[" + b",".join([filler] * count) + b"]"
            answer = sim.http.post(bird, content=body, headers={**AUTH, "content-type": "application/json"})
            assert 400 <= answer.status_code < 500, answer.text[:200]
            measured(f"2 MB of {filler.decode()}")

        print("peak growth (MB):", growth)
        assert max(growth.values()) <= GROWTH_MB, growth
        assert sim.http.get("/_sim/health").status_code == 200
    finally:
        sim.http.close()
        served.stop()
