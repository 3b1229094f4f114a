"""`provider-sim postgres`: the one command that gives the simulator a local PostgreSQL, run as a user would."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(directory: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "postgres", "--dir", str(directory),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    assert "provider-sim serve --db" in lines[1], (lines, proc.stderr.read() if proc.poll() is not None else "")
    return proc, lines[1].split("--db", 1)[1].strip()


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    return out


@pytest.mark.slow
def test_postgres_command_serves_a_database_that_outlives_it(postgres):
    """Started, used by a simulator, stopped with SIGTERM, started again on the same directory: the data is there."""
    # Not under pytest's tmp_path: as root the server runs as a system user, who cannot enter root's 0700 dirs.
    directory, port = Path(tempfile.mkdtemp(prefix="provider-sim-cli-pg-")), _free_port()
    try:
        _run_twice(directory, port)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _run_twice(directory: Path, port: int) -> None:
    proc, url = _start(directory, port)
    try:
        assert url == f"postgresql://postgres@127.0.0.1:{port}/provider_sim"
        with SimulatorServer(Settings(db=url, clock="manual", port=0)) as server, SimClient(server.url) as client:
            sent = client.send_sms("+15551230000", "kept")
    finally:
        assert "PostgreSQL stopped" in _stop(proc)
    proc, url = _start(directory, port)
    try:
        with SimulatorServer(Settings(db=url, clock="manual", port=0)) as server, SimClient(server.url) as client:
            assert client.get_message(sent["id"])["body"]["text"]["text"] == "kept"
    finally:
        _stop(proc)
