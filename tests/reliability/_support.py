"""Helpers for the reliability suite: a `provider-sim serve` subprocess with its output captured."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

BIRD_KEY = "sim-bird-access-key-0001"
READONLY_KEY = "sim-bird-readonly-key-0002"
WS = "5b4b2a1e-0000-4000-8000-00000000a001"
CH = "7c0f4a8e-0000-4000-8000-00000000c002"
ORG = "0b3f5e2a-0000-4000-8000-00000000b1d0"
AUTH = {"Authorization": f"AccessKey {BIRD_KEY}"}


def json_paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON document (keys and list indexes), the root () first: where to mutate it."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += json_paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += json_paths(v, prefix + (i,))
    return out


REMOVED = object()  # among the replacements of swapped_or_removed(): the property taken out instead


def swapped_or_removed(doc: object, replacements: list[object]) -> list[tuple[tuple, object, object]]:
    """(path, replacement, copy of doc) for every path into doc but the root and every replacement, REMOVED
    included (only where the path ends in an object's property): a sweep for single-point type confusion."""
    out = []
    for path in json_paths(doc)[1:]:
        for replacement in [*replacements, REMOVED]:
            body = json.loads(json.dumps(doc))
            target = body
            for step in path[:-1]:
                target = target[step]
            if replacement is REMOVED:
                if not isinstance(target, dict):
                    continue
                del target[path[-1]]
            else:
                target[path[-1]] = replacement
            out.append((path, replacement, body))
    return out


PROVIDER_SIM = str(Path(sys.executable).with_name("provider-sim"))


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    out: Path
    err: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


def serve(db: str | Path, tmp: Path, *args: str, tag: str = "sim") -> Served:
    out, err = tmp / f"{tag}.out", tmp / f"{tag}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:  # the child keeps its own copies of both
        proc = subprocess.Popen([PROVIDER_SIM, "serve", "--port", "0", "--db", str(db), "--clock", "manual", *args],
                                stdout=stdout, stderr=stderr)
    deadline = time.monotonic() + 20
    port = None
    while time.monotonic() < deadline:
        m = re.search(r"listening on http://[\d.]+:(\d+)", out.read_text(errors="replace"))
        if m:
            port = int(m.group(1))
            break
        if proc.poll() is not None:
            raise RuntimeError(f"provider-sim exited: {err.read_text()}")
        time.sleep(0.02)
    assert port is not None, "provider-sim did not print its port"
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_sim/health", timeout=1).status_code == 200:
                return Served(proc, port, out, err)
        except httpx.HTTPError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("provider-sim never became healthy")


def send_body(i: int, number: str | None = None) -> dict:
    return {"receiver": {"contacts": [{"identifierValue": number or f"+3161{i % 10**6:06d}10"}]},
            "body": {"type": "text", "text": {"text": f"crash test {i}"}}, "reference": f"crash-{i}"}


def rows(db: str | Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of ``sql`` (``?`` placeholders) read straight from a simulator's store, SQLite file or PostgreSQL URL."""
    if str(db).startswith("postgresql://"):
        import asyncio

        import asyncpg

        from simulator.core.postgres_store import numbered

        async def fetch() -> list[tuple]:
            conn = await asyncpg.connect(str(db))
            try:
                return [tuple(r) for r in await conn.fetch(numbered(sql), *params)]
            finally:
                await conn.close()

        return asyncio.run(fetch())
    import sqlite3

    with sqlite3.connect(db) as raw:
        return [tuple(r) for r in raw.execute(sql, params)]
