""""The limit": the smallest Starlette + uvicorn app that reads the same JSON and answers 202.

Same stack as the simulator (uvicorn with uvloop + httptools, access log off), no validation, no storage.
Also serves GET /health (start-up baseline), POST /reset (round-trip floor) and POST /hook (a loopback webhook
receiver that checks an HMAC-SHA256 signature, used by the webhook benchmark; /slow-hook?ms=N answers after N ms;
/bird-hook counts Bird's deliveries, whose signature scheme is the simulator's business, not this receiver's).

Run: python bench/baseline_app.py [--port 0]   (prints "listening on <port>" once bound)
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import socket
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HOOK_SECRET = b"bench-signing-key"
received = {"hooks": 0, "bad_signatures": 0, "bird_hooks": 0}


async def send(request: Request) -> Response:
    payload = json.loads(await request.body())
    return JSONResponse({"id": "00000000-0000-4000-8000-000000000000", "status": "accepted",
                         "receiver": payload.get("receiver")}, status_code=202)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def reset(request: Request) -> Response:
    await request.body()
    received.update(hooks=0, bad_signatures=0, bird_hooks=0)
    return JSONResponse({"reset": "all"})


async def hook(request: Request) -> Response:
    body = await request.body()
    signature = request.headers.get("x-bench-signature", "")
    expected = base64.b64encode(hmac.new(HOOK_SECRET, body, hashlib.sha256).digest()).decode()
    if hmac.compare_digest(signature, expected):
        received["hooks"] += 1
    else:
        received["bad_signatures"] += 1
    return Response(status_code=204)


async def slow_hook(request: Request) -> Response:
    """/hook answering after ``?ms=`` milliseconds: an app that does real work per webhook."""
    import asyncio

    await asyncio.sleep(int(request.query_params.get("ms", "100")) / 1000)
    return await hook(request)


async def bird_hook(request: Request) -> Response:
    await request.body()
    received["bird_hooks"] += 1
    return Response(status_code=200)


async def hook_count(request: Request) -> Response:
    return JSONResponse(received)


app = Starlette(routes=[
    Route("/workspaces/{ws}/channels/{ch}/messages", send, methods=["POST"]),
    Route("/v1/message", send, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/reset", reset, methods=["POST"]),
    Route("/hook", hook, methods=["POST"]),
    Route("/hook/count", hook_count, methods=["GET"]),
    Route("/slow-hook", slow_hook, methods=["POST"]),
    Route("/bird-hook", bird_hook, methods=["POST"]),
])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # IPPROTO_TCP: TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", loop="uvloop",
                            http="httptools")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
