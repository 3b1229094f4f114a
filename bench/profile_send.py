"""Profile the Bird send path with pyinstrument: the simulator runs in this process (main thread, uvloop),
the load generator in a subprocess. Writes results/profile_send.{txt,html}.

Run: .venv/bin/python bench/profile_send.py [--conns 16] [--duration 5]
"""
from __future__ import annotations

import argparse
import socket
import sys
import threading
import json
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))

import common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--path", default=common.SEND_PATH)
    args = parser.parse_args()
    import uvicorn
    from pyinstrument import Profiler

    from simulator.app import create_app
    from simulator.settings import Settings

    db = common.temp_db("bench-profile")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(Settings(db=db, clock="manual", port=port, log_level="warning"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                           loop="uvloop", http="httptools"))
    result: dict[str, object] = {}

    def drive() -> None:
        while not server.started:
            time.sleep(0.01)
        headers = {**common.AUTH, "Content-Type": "application/json"}
        result.update(common.loadgen(port, args.path, headers=headers,
                                     bodies=[common.send_body(i) for i in range(200)], conns=args.conns,
                                     duration=args.duration, warmup=0.5))
        server.should_exit = True

    threading.Thread(target=drive, daemon=True).start()
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    server.run(sockets=[sock])
    profiler.stop()
    common.RESULTS.mkdir(exist_ok=True)
    (common.RESULTS / "profile_send.txt").write_text(profiler.output_text(unicode=True, show_all=False))
    (common.RESULTS / "profile_send.html").write_text(profiler.output_html())
    print(json.dumps(result))
    print(profiler.output_text(unicode=True, show_all=False)[:12000])


if __name__ == "__main__":
    main()
