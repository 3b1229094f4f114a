"""A fleet of real processes: ``provider-sim serve --workers N`` (uvicorn's supervisor, one port) and ``serve``
commands on two ports sharing one PostgreSQL database; kill -9 of a worker loses nothing it answered 2xx for.

The real clock runs here (sped up): what is measured is what a process that dies leaves behind, which only the
wall-clock lease of its claims decides (core/fleet.py). Waits poll the simulator through HTTP until a deadline."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from simulator.testing import SimClient, WebhookReceiver
from tests.bird.conftest import subs_path
from tests.conftest import _fresh_postgres

NUMBERS = [f"+1555124{n:04d}" for n in range(1000, 1200)]  # no magic suffix (0001-0007)
LISTENING = re.compile(r"listening on (http://\S+)")


def _serve(url: str, *args: str, **env: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--db", url, "--port", "0", "--seed", "7",
         "--log-level", "warning", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PROVIDER_SIM_FLEET_LEASE_SECONDS": "1.5", **env})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = LISTENING.search(line)
    if found is None:
        proc.kill()
        raise AssertionError(f"no banner: {line!r} {proc.communicate(timeout=10)}")
    base = found.group(1)
    _until(lambda: _healthy(base), "the server answers /_sim/health")
    return proc, base


def _healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/_sim/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _until(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)  # polling a server in another process, not waiting for simulated time


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=30)  # also closes its pipes
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    return _fresh_postgres(request)


def test_workers_above_one_on_sqlite_exit_2_naming_postgresql() -> None:
    done = subprocess.run([sys.executable, "-m", "simulator", "serve", "--db", ":memory:", "--port", "0",
                           "--workers", "2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "PostgreSQL" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def _members(base: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=base, timeout=5) as client:
        members: list[dict[str, Any]] = client.get("/_sim/info").json()["fleet"]["members"]
        return [m for m in members if m["live"]]


def test_serve_workers_3_is_one_simulator_and_replaces_a_killed_worker(database: str) -> None:
    proc, base = _serve(database, "--workers", "3", "--clock", "manual")
    try:
        _until(lambda: len(_members(base)) == 3, "three workers are members")
        pids = {m["pid"] for m in _members(base)}
        # New connections land on whichever worker accepts them: every answer must agree all the same.
        sent = []
        for number in NUMBERS[:24]:
            with SimClient(base) as client:  # a connection of its own
                sent.append(client.send_sms(number)["id"])
        assert len(set(sent)) == 24
        with SimClient(base) as client:
            client.advance(60)
        for message_id in sent:
            with SimClient(base) as client:
                assert client.get_message(message_id)["status"] == "delivered"
        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)
        _until(lambda: len(_members(base)) == 3 and victim not in {m["pid"] for m in _members(base)},
               "the supervisor replaced the killed worker")
        with SimClient(base) as client:
            assert client.get_message(sent[0])["status"] == "delivered"
    finally:
        _stop(proc)
    assert proc.returncode == 0


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


def test_kill_9_of_a_worker_under_load_loses_no_message_transition_or_webhook(database: str,
                                                                              receiver: WebhookReceiver) -> None:
    """Two serve commands on two ports, a real clock at speed 20: messages sent through A have transitions and
    webhooks still due when A is killed; B takes over A's claims once A's lease runs out and finishes them all."""
    a, base_a = _serve(database, "--clock", "real", "--clock-speed", "20")
    b, base_b = _serve(database, "--clock", "real", "--clock-speed", "20")
    try:
        with SimClient(base_a) as client_a, SimClient(base_b) as client_b:
            body = {"service": "channels", "event": "sms.outbound", "url": receiver.url + "/bird"}
            assert client_a.http.post(subs_path(client_a), json=body, headers=client_a.bird_headers).status_code == 201
            sent = [(client_a if i % 4 else client_b).send_sms(NUMBERS[i])["id"] for i in range(60)]
            a.send_signal(signal.SIGKILL)
            a.wait(timeout=10)
            for message_id in sent:
                client_b.wait_for_status(message_id, "delivered", timeout=60)

            def every_delivered_webhook_arrived() -> bool:
                got = {r.json()["payload"]["id"] for r in list(receiver.requests)
                       if r.json()["payload"]["status"] == "delivered"}
                return set(sent) <= got

            _until(every_delivered_webhook_arrived, "every message's delivered webhook arrived", timeout=60)
            for message_id in sent:  # each status of each message, in order, at least once
                statuses = [r.json()["payload"]["status"] for r in list(receiver.requests)
                            if r.json()["payload"]["id"] == message_id]
                firsts = list(dict.fromkeys(statuses))
                assert firsts == ["accepted", "processing", "sent", "delivered"] or \
                    firsts == ["processing", "accepted", "sent", "delivered"], (message_id, statuses)
    finally:
        _stop(a)
        _stop(b)
