"""The container image: size, start to the first 200, stop on SIGTERM. Not part of `make bench` (it needs a
container engine); run it after `make test ARGS=tests/container` has built the image:

    .venv/bin/python bench/container_start.py [--image localhost/provider-sim:test] [--runs 7]

Start: from the `run --detach` call to the first 200 on /_sim/health, polled every 5 ms from the host through the
published port (what a Testcontainers wait strategy or a CI service health check sees), split into the engine's
part (until `run` returns: create the container, set up its network) and the simulator's. Stop: the `stop` call's
wall time and the exit code (0 = it ended on its own SIGTERM handling, 137 = killed)."""
from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.container.engine import IMAGE_TAG, find_engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", default=IMAGE_TAG)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    engine, why = find_engine()
    if engine is None:
        sys.exit(why)

    size = json.loads(engine("image", "inspect", args.image).stdout)[0]["Size"]
    save = subprocess.Popen([engine.exe, "save", args.image], env=engine.env, stdout=subprocess.PIPE)
    compressed = len(gzip.compress(save.stdout.read(), 6))  # type: ignore[union-attr]
    save.wait()

    engine_s, total_s, stop_s, codes = [], [], [], []
    for _ in range(args.runs):
        name = f"provider-sim-bench-{uuid.uuid4().hex[:8]}"
        try:
            t0 = time.perf_counter()
            engine("run", "--detach", "--name", name, "--publish", "127.0.0.1::8790", args.image)
            t_run = time.perf_counter()
            url = "http://" + engine("port", name, "8790").stdout.split()[0]
            with httpx.Client(timeout=2) as http:
                while True:
                    try:
                        if http.get(url + "/_sim/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.005)
            t_ok = time.perf_counter()
            engine_s.append(t_run - t0)
            total_s.append(t_ok - t0)
            t_stop = time.perf_counter()
            engine("stop", "--time", "10", name)
            stop_s.append(time.perf_counter() - t_stop)
            codes.append(json.loads(engine("inspect", name).stdout)[0]["State"]["ExitCode"])
        finally:
            engine("rm", "--force", "--volumes", name, check=False)

    def ms(values: list[float]) -> str:
        low, mid, high = (round(v * 1000) for v in (min(values), statistics.median(values), max(values)))
        return f"median {mid} ms (min {low}, max {high})"

    print(f"engine: {engine.name} {engine('--version').stdout.strip()}; image {args.image}")
    print(f"image size: {size / 1e6:.0f} MB uncompressed, {compressed / 1e6:.0f} MB as a gzipped `save` archive")
    print(f"start to first 200 ({args.runs} runs): {ms(total_s)}")
    print(f"  of which the engine's `run --detach`: {ms(engine_s)}")
    print(f"  the simulator after it: {ms([t - e for t, e in zip(total_s, engine_s)])}")
    print(f"stop (SIGTERM): {ms(stop_s)}; exit codes {sorted(set(codes))}")


if __name__ == "__main__":
    main()
