"""simulator.testcontainers against a real engine through its Docker-compatible API (podman's `podman system
service` here, on a socket of its own): the helper's container starts, waits for health, and its SimClient sends,
moves the clock and reads back; a webhook reaches a receiver on the host; a mounted config and the token apply."""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from simulator.testing import WebhookReceiver
from tests.container.engine import ROOT, Engine

pytestmark = [pytest.mark.container, pytest.mark.timeout(1200)]

TOKEN = "testcontainers-token-5Kd8"


@pytest.fixture(scope="module")
def docker_api(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DOCKER_HOST for the engine: podman serves the Docker API on a socket of its own for this module."""
    if not engine.podman:
        yield os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return
    socket = tmp_path_factory.mktemp("podman") / "podman.sock"
    service = subprocess.Popen([engine.exe, "system", "service", "--time=0", f"unix://{socket}"], env=engine.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            if service.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"podman system service did not start: {service.communicate()[1]!r}")
            time.sleep(0.02)
        yield f"unix://{socket}"
    finally:
        service.terminate()
        service.communicate(timeout=30)  # reaps it and closes its stderr pipe


@pytest.fixture
def testcontainers_env(docker_api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("testcontainers.core.wait_strategies", reason="testcontainers 4.13+ is not installed")
    monkeypatch.setenv("DOCKER_HOST", docker_api)
    # Ryuk, Testcontainers' reaper, is an image from Docker Hub: none here; the containers are stopped by the tests.
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    # The engine runs on this machine. Testcontainers guesses otherwise where /.dockerenv exists (this machine
    # kind has one) and then reads a field of the container list that podman's API leaves out.
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    monkeypatch.setattr(testcontainers_config, "connection_mode_override", ConnectionMode.docker_host)


def test_helper_gives_a_running_simulator_and_its_client(image: str, testcontainers_env: None) -> None:
    from simulator.testcontainers import ProviderSimContainer

    with ProviderSimContainer(image, control_token=TOKEN, seed=3) as container:
        assert httpx.get(container.base_url + "/_sim/info").status_code == 401
        assert httpx.get(container.base_url + "/_sim/health").status_code == 200
        ids = container.ids()
        assert ids["accessKey"] == "sim-bird-access-key-0001" and ids["workspaceId"] and ids["secret"]
        sim = container.client()
        assert sim.info()["seed"] == 3
        with WebhookReceiver(host="0.0.0.0") as receiver:
            subscription = {"service": "channels", "event": "sms.outbound",
                            "url": container.host_url(receiver.port, "/bird")}
            created = sim.http.post(f"/organizations/{ids['organizationId']}/workspaces/{ids['workspaceId']}"
                                    "/webhook-subscriptions", json=subscription, headers=sim.bird_headers)
            assert created.status_code == 201, created.text
            message = sim.send_sms("+15551230000", "Your code is 4821")
            sim.advance(10)
            assert sim.get_message(message["id"])["status"] == "delivered"
            receiver.wait_for_webhook("sms.outbound", {"payload.id": message["id"], "payload.status": "delivered"},
                                      timeout=15)


def test_helper_mounts_a_world_config(image: str, testcontainers_env: None, tmp_path: Path) -> None:
    from simulator.testcontainers import ProviderSimContainer

    config = tmp_path / "world.yaml"
    config.write_text((ROOT / "fixtures" / "default-world.yaml").read_text()
                      .replace("sim-bird-access-key-0001", "testcontainers-key-0001"))
    config.chmod(0o644)
    with ProviderSimContainer(image, config=config, env={"PROVIDER_SIM_DURABILITY": "full"}) as container:
        assert container.ids()["accessKey"] == "testcontainers-key-0001"
        assert container.client().health()["store"]["durability"] == "full"
