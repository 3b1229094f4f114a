"""`provider-sim serve` turns SQLite's memory statistics off (a global mutex on every allocation; ~5 % of a send's
instructions); the in-process Simulator does not, since its process may hold connections of its own.

Each check runs in a fresh process: the setting is process-wide and needs no connection open when it is made.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx2 as httpx
import pytest

from simulator.core import sqlite_tuning
from tests.test_cli import start, stop

pytestmark = pytest.mark.skipif(sqlite_tuning.loaded_library() is None,
                                reason="SQLite is not a shared library this process can reach (not Linux?)")

# Writes 2,000 rows in a file db, then prints what SQLite counts as allocated (0 once statistics are off).
_WORK = """
import ctypes, json, sqlite3, sys, tempfile
from simulator.core import sqlite_tuning
stopped = sqlite_tuning.stop_memory_statistics() if sys.argv[1] == "stop" else None
with tempfile.TemporaryDirectory() as tmp:
    conn = sqlite3.connect(tmp + "/t.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(str(i) * 20,) for i in range(2000)])
    count = conn.execute("SELECT count(*), sum(length(v)) FROM t").fetchone()
    lib = ctypes.CDLL(sqlite_tuning.loaded_library())
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    print(json.dumps({"stopped": stopped, "used": lib.sqlite3_memory_used(), "rows": count}))
    conn.close()
"""


def _run(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _WORK, mode], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_stopping_memory_statistics_stops_the_counting_and_nothing_else() -> None:
    kept = _run("keep")
    stopped = _run("stop")
    assert kept["used"] > 10_000  # SQLite counts its allocations by default
    assert stopped["stopped"] is True and stopped["used"] == 0
    assert stopped["rows"] == kept["rows"] == [2000, sum(len(str(i) * 20) for i in range(2000))]


def test_serve_runs_with_statistics_off(tmp_path) -> None:
    proc, banner = start(["--port", "0", "--db", str(tmp_path / "sim.db"), "--clock", "manual"])
    try:
        url = re.search(r"listening on (http://\S+)", banner).group(1)
        with httpx.Client(base_url=url) as client:
            assert client.get("/_sim/health").json()["store"]["sqliteMemoryStatistics"] is False
            bird = client.get("/_sim/info").json()["bird"]
            workspace = bird["workspaces"][0]
            messages = f"/workspaces/{workspace['id']}/channels/{workspace['channels'][0]['id']}/messages"
            auth = {"Authorization": "AccessKey " + bird["accessKeys"][0]["key"]}
            body = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
                    "body": {"type": "text", "text": {"text": "hi"}}}
            sent = client.post(messages, headers=auth, json=body)
            assert sent.status_code == 202
            assert client.post("/_sim/clock/advance", json={"seconds": 60}).status_code == 200
            assert client.get(f"{messages}/{sent.json()['id']}", headers=auth).json()["status"] == "delivered"
    finally:
        stop(proc)


def test_the_in_process_simulator_leaves_sqlite_as_it_finds_it(provider_sim) -> None:
    assert provider_sim.health()["store"]["sqliteMemoryStatistics"] is True
