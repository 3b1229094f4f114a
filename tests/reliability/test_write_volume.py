"""What a send costs in disk writes. Concurrent sends share one COMMIT, each in its own SAVEPOINT; SQLite keeps the
pages a savepoint may have to restore in a statement journal, which it spills to a temporary file past 64 KB unless
temp files live in memory. On disk that was ~135 KB and ~65 write calls per send (three times the WAL's own) and
about half of its system time; in memory ~44 KB and ~21."""
from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2 as httpx
import pytest

from _support import AUTH, CH, WS

from simulator.server import SimulatorServer
from simulator.settings import Settings


def _written() -> tuple[int, int]:
    """Bytes this process passed to write calls, and how many calls (/proc: page cache included, as SQLite sees)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["wchar"]), int(fields["syscw"])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts writes through Linux's /proc/self/io")
def test_concurrent_sends_keep_the_statement_journal_off_disk(tmp_path: Path) -> None:
    with SimulatorServer(Settings(db=str(tmp_path / "w.db"), clock="manual", port=0)) as s:

        async def sends(count: int, first: int) -> None:
            async with httpx.AsyncClient(base_url=s.url, headers=AUTH, timeout=30) as client:
                async def one(i: int) -> None:
                    body = {"receiver": {"contacts": [{"identifierValue": f"+3161{(i * 7919) % 1000000:07d}"}]},
                            "body": {"type": "text", "text": {"text": f"hello {i}"}}}
                    r = await client.post(f"/workspaces/{WS}/channels/{CH}/messages", json=body)
                    assert r.status_code == 202, r.text

                for k in range(0, count, 16):
                    await asyncio.gather(*(one(first + k + j) for j in range(16)))

        # Pages that exist before a savepoint are the ones it journals: fill the indexes first.
        asyncio.run(sends(800, 0))
        before, stats_before = _written(), dict(s.sim.store.stats)
        asyncio.run(sends(320, 100_000))
        after, stats = _written(), s.sim.store.stats
        grouped = (stats["transactions"] - stats_before["transactions"]) / max(1, stats["commits"]
                                                                                 - stats_before["commits"])
        assert grouped > 2, f"the sends did not share COMMITs ({grouped:.1f} per COMMIT): nothing was measured"
        kb_per_send = (after[0] - before[0]) / 320 / 1024
        calls_per_send = (after[1] - before[1]) / 320
        assert kb_per_send < 80 and calls_per_send < 40, (
            f"{kb_per_send:.0f} KB in {calls_per_send:.0f} write calls per send: is the statement journal on disk"
            " again (PRAGMA temp_store)?")
