"""asyncpg against psycopg 3 on the statements of one Bird send: the measurement behind the PostgreSQL store's driver.

A send's statements are recorded as the simulator runs them on asyncpg (text, parameters, order, in and out of the
transaction), then replayed by each driver through a pool of 10 connections, by 1 and by 16 concurrent workers,
ending each transaction with ROLLBACK so that every replay writes the same rows. Figures: transactions per second
and the client process's CPU per transaction (what the simulator would spend in the driver).

Needs both drivers, which the project does not install together (it ships one):
    python -m venv /tmp/drivers && /tmp/drivers/bin/pip install asyncpg 'psycopg[binary]' psycopg_pool -e .
    /tmp/drivers/bin/python bench/drivers.py
"""
from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORKERS = (1, 16)
DURATION_S = 4.0
RUNS = 3


async def record_send(url: str) -> list[tuple[bool, str, tuple[Any, ...]]]:
    """(in a transaction, query, args) of every statement one send runs, as asyncpg received them."""
    import asyncpg.connection

    from simulator.server import SimulatorServer
    from simulator.settings import Settings
    from simulator.testing import SimClient

    seen: list[tuple[bool, str, tuple[Any, ...]]] = []
    recording = False
    originals = {name: getattr(asyncpg.connection.Connection, name)
                 for name in ("execute", "fetch", "fetchrow", "fetchval")}

    def recorder(name: str) -> Any:
        original = originals[name]

        async def call(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            if recording:
                seen.append((self.is_in_transaction() or query.startswith("BEGIN"), query, args))
            return await original(self, query, *args, **kwargs)
        return call

    # A benchmark's probe, on the driver's class, never in simulator/: the store runs unchanged.
    for name in originals:
        setattr(asyncpg.connection.Connection, name, recorder(name))
    try:
        def run() -> None:
            nonlocal recording
            with SimulatorServer(Settings(db=url, clock="manual", port=0, log_level="warning")) as server, \
                    SimClient(server.url) as client:
                for i in range(20):  # warm: caches filled, statements prepared, as in a long run
                    client.send_sms(f"+155512{i:05d}")
                recording = True
                client.send_sms("+15551299999", "the recorded send")
                recording = False
        await asyncio.to_thread(run)
    finally:
        for name, original in originals.items():
            setattr(asyncpg.connection.Connection, name, original)
    return seen


def as_psycopg(query: str, args: tuple[Any, ...]) -> tuple[str, list[Any]]:
    """$n placeholders as psycopg's %s, the arguments in order of occurrence; a literal % doubled."""
    order: list[int] = []

    def number(match: re.Match[str]) -> str:
        order.append(int(match.group(1)) - 1)
        return "%s"
    text = re.sub(r"\$(\d+)", number, query.replace("%", "%%"))
    return text, [args[i] for i in order]


Statements = list[tuple[bool, str, tuple[Any, ...]]]


async def replay_asyncpg(url: str, statements: Statements, workers: int) -> dict[str, float]:
    import asyncpg

    pool = await asyncpg.create_pool(url, min_size=10, max_size=10, reset=_no_reset)
    try:
        async def one() -> None:
            async with pool.acquire() as conn:
                for in_tx, query, args in statements:
                    if not in_tx:
                        continue
                    if query == "COMMIT":
                        await conn.execute("ROLLBACK")
                    elif args:
                        await conn.execute(query, *args)
                    else:
                        await conn.execute(query)
            for in_tx, query, args in statements:
                if not in_tx:
                    await pool.fetch(query, *args)
        return await _measure(one, workers)
    finally:
        await pool.close()


async def _no_reset(conn: Any) -> None:
    """As the store: nothing to undo between transactions."""


async def replay_psycopg(url: str, statements: Statements, workers: int) -> dict[str, float]:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    converted = [(in_tx, *as_psycopg(q, a)) if a else (in_tx, q, []) for in_tx, q, a in statements]
    pool = AsyncConnectionPool(url, min_size=10, max_size=10, open=False,
                               kwargs={"autocommit": True, "prepare_threshold": 1})
    await pool.open(wait=True)
    try:
        async def one() -> None:
            async with pool.connection() as conn:
                for in_tx, query, args in converted:
                    if not in_tx:
                        continue
                    if query == "COMMIT":
                        await conn.execute("ROLLBACK")
                    else:
                        await conn.execute(query, args or None, prepare=None if args else False)
            async with pool.connection() as conn:
                for in_tx, query, args in converted:
                    if not in_tx:
                        await (await conn.execute(query, args or None)).fetchall()
        _ = psycopg
        return await _measure(one, workers)
    finally:
        await pool.close()


async def _measure(one: Any, workers: int) -> dict[str, float]:
    for _ in range(50):
        await one()
    done = 0
    stop_at = time.perf_counter() + DURATION_S

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await one()
            done += 1
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return {"tps": done / wall, "cpu_us": cpu / done * 1e6}


def main() -> None:
    from simulator.testing_postgres import ThrowawayPostgres

    with ThrowawayPostgres() as pg:
        url = pg.create_database("drivers")
        from simulator.server import SimulatorServer
        from simulator.settings import Settings

        with SimulatorServer(Settings(db=url, clock="manual", port=0, log_level="warning")):
            pass  # migrated and seeded: the replays run on a copy of this, without the recorded send's rows
        replay_url = pg.create_database("replay", template="drivers")
        statements = asyncio.run(record_send(url))
        in_tx = sum(1 for s in statements if s[0])
        print(f"one send: {len(statements)} statements ({in_tx} in its transaction, counting BEGIN and COMMIT)")
        for workers in WORKERS:
            results: dict[str, list[dict[str, float]]] = {"asyncpg": [], "psycopg": []}
            for _ in range(RUNS):  # interleaved: the host's noise falls on both alike
                results["asyncpg"].append(asyncio.run(replay_asyncpg(replay_url, statements, workers)))
                results["psycopg"].append(asyncio.run(replay_psycopg(replay_url, statements, workers)))
            line = []
            for name, runs in results.items():
                tps = statistics.median(r["tps"] for r in runs)
                cpu = statistics.median(r["cpu_us"] for r in runs)
                line.append(f"{name} {tps:,.0f} tx/s, {cpu:.0f} µs client CPU")
            print(f"{workers:>2} workers: " + "; ".join(line))


if __name__ == "__main__":
    main()
