"""Bird webhook deliveries per second to a loopback receiver (not part of pytest).

    .venv/bin/python bench/webhooks_bench.py [--messages 2000] [--runs 3]

A minimal asyncio HTTP receiver runs in its own process (so it does not share the GIL with the simulator) and
answers 200 to every POST. The simulator runs in-process on a file database with the manual clock. Each run:
subscribe to every ``sms.outbound`` event (signed), hold deliveries back with ``delaySeconds``, send the
messages through the batch API and let their lifecycle finish (4 status events each), then release the held
deliveries with one clock advance and time how long the outbox takes until the receiver has them all.
Measured: signed, durable deliveries (write attempt + state in SQLite) per wall-clock second.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2 as httpx  # noqa: E402

from simulator.server import SimulatorServer  # noqa: E402
from simulator.settings import Settings  # noqa: E402

WS = "5b4b2a1e-0000-4000-8000-00000000a001"
CH = "7c0f4a8e-0000-4000-8000-00000000c002"
ORG = "0b3f5e2a-0000-4000-8000-00000000b1d0"
AUTH = {"Authorization": "AccessKey sim-bird-access-key-0001"}
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


def _receiver(port_out: mp.Value, count: mp.Value) -> None:  # type: ignore[type-arg]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                writer.write(RESPONSE)
                with count.get_lock():
                    count.value += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_out.value = server.sockets[0].getsockname()[1]
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def run_once(messages: int, receiver_url: str, count: mp.Value) -> tuple[float, int]:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db=str(Path(tmp) / "sim.db"), clock="manual", port=0, log_level="warning")
        with SimulatorServer(settings) as server, httpx.Client(base_url=server.url, timeout=120) as client:
            client.post(f"/organizations/{ORG}/workspaces/{WS}/webhook-subscriptions", headers=AUTH, json={
                "service": "channels", "event": "sms.outbound", "url": receiver_url + "/bird",
                "signingKey": "bench-signing-key"}).raise_for_status()
            client.put("/_sim/webhooks", json={"delaySeconds": 3600}).raise_for_status()
            for start in range(0, messages, 100):
                batch = [{"receiver": {"contacts": [{"identifierValue": f"+3161{(start + i) % 100000:05d}0"}]},
                          "body": {"type": "text", "text": {"text": f"Your code is {start + i}"}}}
                         for i in range(min(100, messages - start))]
                client.post(f"/workspaces/{WS}/channels/{CH}/batch/messages", headers=AUTH,
                            json={"messageRequests": batch}).raise_for_status()
            client.post("/_sim/clock/advance", json={"seconds": 10}).raise_for_status()  # lifecycle done
            expected = messages * 4
            with count.get_lock():
                count.value = 0
            started = time.perf_counter()
            client.post("/_sim/clock/advance", json={"seconds": 3600}).raise_for_status()
            while count.value < expected:
                if time.perf_counter() - started > 300:
                    raise SystemExit(f"only {count.value} of {expected} deliveries arrived")
                time.sleep(0.001)
            elapsed = time.perf_counter() - started
            return elapsed, expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    port, count = mp.Value("i", 0), mp.Value("i", 0)
    proc = mp.Process(target=_receiver, args=(port, count), daemon=True)
    proc.start()
    while port.value == 0:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port.value}"
    rates = []
    try:
        for run in range(args.runs):
            elapsed, delivered = run_once(args.messages, url, count)
            rates.append(delivered / elapsed)
            print(f"run {run + 1}: {delivered} deliveries in {elapsed:.2f} s = {delivered / elapsed:,.0f}/s")
    finally:
        proc.terminate()
        proc.join()
    print(f"median: {statistics.median(rates):,.0f} signed webhook deliveries/s "
          f"({args.messages} messages x 4 status events, file db, loopback receiver)")


if __name__ == "__main__":
    main()
