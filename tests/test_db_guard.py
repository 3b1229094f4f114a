"""The db file: a wrong one is refused with a clear message and left untouched; one simulator owns a db at a time
(the lock dies with its process, kill -9 included); durability "full" reaches SQLite."""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest

from simulator.core.store import migration_files
from simulator.server import SimulatorServer, SimulatorStartError
from simulator.settings import Settings
from simulator.testing import SimClient

CLI = [sys.executable, "-m", "simulator", "serve", "--port", "0", "--clock", "manual", "--log-level", "warning"]


def _serve_refused(db: Path) -> str:
    """Run the CLI on ``db``; it must exit 2 at once. Returns what it printed to stderr."""
    done = subprocess.run([*CLI, "--db", str(db)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_that_is_not_sqlite_is_refused_and_left_as_it_was(tmp_path):
    db = tmp_path / "notes.db"
    db.write_bytes(b"these are my notes, not a database\n" * 200)
    before = _digest(db)
    err = _serve_refused(db)
    assert "notes.db is not a usable SQLite database" in err and "file is not a database" in err
    assert _digest(db) == before
    assert not Path(str(db) + "-wal").exists()


def test_another_applications_database_gets_no_simulator_tables(tmp_path):
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    conn.execute("INSERT INTO users (email) VALUES ('a@example.com')")
    conn.commit()
    conn.close()
    err = _serve_refused(db)
    assert "belongs to another application (tables: users)" in err
    tables = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"users"}
    # The in-process server refuses it too, and says why instead of "see the log".
    with pytest.raises(SimulatorStartError, match="belongs to another application"):
        SimulatorServer(Settings(db=str(db), clock="manual", port=0)).start()
    tables = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"users"}


def test_a_db_from_a_newer_simulator_is_refused(tmp_path):
    db = tmp_path / "sim.db"
    with SimulatorServer(Settings(db=str(db), clock="manual", port=0)):
        pass
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_from_the_future.sql')")
    conn.commit()
    conn.close()
    err = _serve_refused(db)
    assert "written by a newer provider-simulator" in err and "9999_from_the_future.sql" in err


def test_the_known_migrations_are_not_mistaken_for_newer_ones(tmp_path):
    db = tmp_path / "sim.db"
    for _ in range(2):  # created, then reopened
        with SimulatorServer(Settings(db=str(db), clock="manual", port=0)) as server:
            assert httpx.get(server.url + "/_sim/health").status_code == 200
    applied = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM schema_migrations")}
    assert applied == {name for _, name, _ in migration_files()}


def test_one_simulator_per_db_and_the_lock_dies_with_a_killed_process(tmp_path):
    db = tmp_path / "sim.db"
    first = subprocess.Popen([*CLI, "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = first.stdout.readline()
        assert "listening on" in banner, banner + first.stderr.read()
        err = _serve_refused(db)
        assert f"is in use by another running provider-simulator (pid {first.pid})" in err
        # In-process, the same refusal; the running server is unaffected.
        with pytest.raises(SimulatorStartError, match="in use by another running provider-simulator"):
            SimulatorServer(Settings(db=str(db), clock="manual", port=0)).start()
        url = banner.split("listening on ")[1].split()[0]
        assert httpx.get(url + "/_sim/health").json()["status"] == "ok"
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        first.stdout.close()
        first.stderr.close()
    # kill -9 gave no chance to clean up: the kernel dropped the lock, so the db opens again at once.
    with SimulatorServer(Settings(db=str(db), clock="manual", port=0)) as server:
        assert httpx.get(server.url + "/_sim/health").status_code == 200


def test_in_process_servers_take_turns_on_one_db(tmp_path):
    settings = Settings(db=str(tmp_path / "sim.db"), clock="manual", port=0)
    with SimulatorServer(settings) as server, SimClient(server.url) as sim:
        sent = sim.send_sms("+15551230000", "first owner")
        with pytest.raises(SimulatorStartError, match="in use"):
            SimulatorServer(settings.replace(port=0)).start()
    with SimulatorServer(settings.replace(port=0)) as server, SimClient(server.url) as sim:
        assert sim.get_message(sent["id"])["body"]["text"]["text"] == "first owner"


def test_durability_full_syncs_every_commit_and_checkpoint(tmp_path):
    settings = Settings(db=str(tmp_path / "sim.db"), clock="manual", port=0, durability="full")
    with SimulatorServer(settings) as server, SimClient(server.url) as sim:
        assert sim.health()["store"]["durability"] == "full"
        sent = sim.send_sms("+15551230000", "synced")
        sim.advance(10)
        assert sim.get_message(sent["id"])["status"] == "delivered"
        store = server.sim.store

        async def synchronous() -> tuple[int, int]:
            main = await (await store.conn.execute("PRAGMA synchronous")).fetchone()
            checkpoint = await (await store.checkpoints._conn.execute("PRAGMA synchronous")).fetchone()
            return int(main[0]), int(checkpoint[0])

        assert server.call(synchronous()) == (2, 2)  # FULL on both connections
    with SimulatorServer(settings.replace(port=0, durability="process")) as server, SimClient(server.url) as sim:
        assert sim.health()["store"]["durability"] == "process"

        async def synchronous_default() -> tuple[int, int]:
            main = await (await server.sim.store.conn.execute("PRAGMA synchronous")).fetchone()
            checkpoint = await (await server.sim.store.checkpoints._conn.execute("PRAGMA synchronous")).fetchone()
            return int(main[0]), int(checkpoint[0])

        assert server.call(synchronous_default()) == (1, 0)  # NORMAL; checkpoints unsynced
        assert sim.get_message(sent["id"])["status"] == "delivered"


def test_unknown_durability_is_refused_by_the_cli(tmp_path):
    done = subprocess.run([*CLI, "--db", str(tmp_path / "x.db"), "--durability", "paranoid"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "paranoid" in done.stderr
    assert not (tmp_path / "x.db").exists()
