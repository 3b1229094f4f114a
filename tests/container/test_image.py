"""The container image, built from this tree and run for real: an SMS sent with plain HTTP is delivered to a webhook
receiver on the host, survives a stop (SIGTERM) and a new container on the same volume; non-root, health check,
settings from the environment and a mounted config file.

Skipped, with the reason, where no container engine can run; see tests/container/engine.py for how the image is
built without a registry."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from simulator.testing import WebhookReceiver
from tests.container.conftest import Names
from tests.container.engine import ROOT, Engine

pytestmark = [pytest.mark.container, pytest.mark.timeout(1200)]  # the first run also makes the base image

TOKEN = "container-test-token-9Jq4"
WORKSPACE = "5b4b2a1e-0000-4000-8000-00000000a001"
CHANNEL = "7c0f4a8e-0000-4000-8000-00000000c001"
ORG = "0b3f5e2a-0000-4000-8000-00000000b1d0"
KEY = {"Authorization": "AccessKey sim-bird-access-key-0001"}
CONTROL = {"Authorization": f"Bearer {TOKEN}"}


def run(engine: Engine, image: str, name: str, *args: str, env: dict[str, str] | None = None,
        volume: str | None = None, port: int = 8790, command: tuple[str, ...] = ()) -> str:
    """Start a container in the background; returns its base URL on the host."""
    flags = ["run", "--detach", "--name", name, "--publish", f"127.0.0.1::{port}"]
    for key, value in (env or {}).items():
        flags += ["--env", f"{key}={value}"]
    if volume:
        flags += ["--volume", f"{volume}:/data"]
    if not engine.podman:
        flags += ["--add-host", "host.docker.internal:host-gateway"]
    engine(*flags, *args, image, *command)
    published = engine("port", name, str(port)).stdout.split()[0]  # "127.0.0.1:41234"
    url = f"http://{published}"
    wait_healthy(engine, name, url)
    return url


def wait_healthy(engine: Engine, name: str, url: str, timeout: float = 30) -> None:
    """A wait strategy, as Testcontainers has: poll /_sim/health until it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/_sim/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        state = engine("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        if state not in ("running", "created", "configured") or time.monotonic() > deadline:
            logs = engine("logs", name, check=False)
            raise AssertionError(f"container {name} is {state}, not serving:\n{logs.stdout}\n{logs.stderr}")
        time.sleep(0.05)


def inspect(engine: Engine, target: str) -> dict[str, Any]:
    return json.loads(engine("inspect", target).stdout)[0]  # type: ignore[no-any-return]


def logs(engine: Engine, name: str) -> str:
    result = engine("logs", name)
    return result.stdout + result.stderr


def send_sms(http: httpx.Client, text: str) -> dict[str, Any]:
    body = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
            "body": {"type": "text", "text": {"text": text}}}
    response = http.post(f"/workspaces/{WORKSPACE}/channels/{CHANNEL}/messages", json=body, headers=KEY)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def get_message(http: httpx.Client, message_id: str) -> dict[str, Any]:
    response = http.get(f"/workspaces/{WORKSPACE}/channels/{CHANNEL}/messages/{message_id}", headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_dockerfile_and_dockerignore_are_the_containerfiles() -> None:
    assert (ROOT / "Dockerfile").read_bytes() == (ROOT / "Containerfile").read_bytes()
    assert (ROOT / ".dockerignore").read_bytes() == (ROOT / ".containerignore").read_bytes()


def test_image_is_slim_non_root_and_declares_its_volume_and_health_check(engine: Engine, image: str) -> None:
    described = inspect(engine, image)
    config = described["Config"]
    assert config["User"] == "sim"
    assert "/data" in config["Volumes"]
    healthcheck = config.get("Healthcheck") or described.get("Healthcheck")  # docker has it in Config, podman not
    assert healthcheck["Test"] == ["CMD", "provider-sim", "health"]
    assert "8790/tcp" in config["ExposedPorts"]
    probe = ("import importlib.util as u, shutil, os; "
             "print(os.getuid(), [m for m in ('pytest', 'hypothesis', 'playwright', 'pyinstrument', 'pip') "
             "if u.find_spec(m)], [c for c in ('gcc', 'cc', 'g++', 'make', 'curl') if shutil.which(c)])")
    out = engine("run", "--rm", "--entrypoint", "python3", image, "-c", probe).stdout.strip()
    assert out == "10001 [] []", out  # non-root; no test, bench or build tools


def test_sms_delivered_to_a_host_webhook_survives_stop_and_a_new_container(engine: Engine, image: str,
                                                                             names: Names) -> None:
    volume = names.volume()
    first = names.container()
    env = {"PROVIDER_SIM_CONTROL_TOKEN": TOKEN, "PROVIDER_SIM_CLOCK": "manual"}
    url = run(engine, image, first, env=env, volume=volume)
    with httpx.Client(base_url=url, timeout=10) as http:
        # The control plane is closed without the token; health stays open for health checks.
        refused = http.get("/_sim/info")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "Unauthorized"
        assert http.get("/_sim/info", headers=CONTROL).status_code == 200

        # A receiver on the host, on the address the container's network reaches the host by.
        gateway = inspect(engine, first)["NetworkSettings"]["Gateway"]
        with WebhookReceiver(host=gateway) as receiver:
            hook = f"http://{engine.host_alias}:{receiver.port}/bird"
            subscribed = http.post(f"/organizations/{ORG}/workspaces/{WORKSPACE}/webhook-subscriptions",
                                   json={"service": "channels", "event": "sms.outbound", "url": hook}, headers=KEY)
            assert subscribed.status_code == 201, subscribed.text
            delivered = send_sms(http, "Your code is 4821")
            assert http.post("/_sim/clock/advance", json={"seconds": 10}, headers=CONTROL).status_code == 200
            hits = receiver.wait_for_webhook("sms.outbound", {"payload.id": delivered["id"],
                                                              "payload.status": "delivered"}, timeout=15)
            assert hits[0].path == "/bird"
        # Answered 202 just before the stop: it must be there after it.
        last = send_sms(http, "sent just before the stop")

    healthcheck = engine("healthcheck", "run", first, check=False) if engine.podman else None
    assert healthcheck is None or healthcheck.returncode == 0, healthcheck
    engine("stop", "--time", "10", first)  # SIGTERM; SIGKILL only if still running 10 s later
    state = inspect(engine, first)["State"]
    assert state["ExitCode"] == 0, state  # ended by its own SIGTERM handling, not killed (137)
    output = logs(engine, first)
    assert TOKEN not in output and "without a control token" not in output
    engine("rm", first)  # the volume outlives the container

    second = names.container()
    url = run(engine, image, second, env=env, volume=volume)
    with httpx.Client(base_url=url, timeout=10) as http:
        assert get_message(http, delivered["id"])["status"] == "delivered"
        kept = get_message(http, last["id"])
        assert kept["body"]["text"]["text"] == "sent just before the stop"


def test_settings_from_the_environment_and_a_mounted_config(engine: Engine, image: str, names: Names,
                                                            tmp_path: Path) -> None:
    world = (ROOT / "fixtures" / "default-world.yaml").read_text()
    assert "sim-bird-access-key-0001" in world
    config = tmp_path / "world.yaml"
    config.write_text(world.replace("sim-bird-access-key-0001", "mounted-config-key-0001"))
    config.chmod(0o644)
    name = names.container()
    env = {"PROVIDER_SIM_PORT": "9100", "PROVIDER_SIM_SEED": "7", "PROVIDER_SIM_CLOCK": "manual",
           "PROVIDER_SIM_DB": ":memory:"}
    url = run(engine, image, name, "--volume", f"{config}:/config/world.yaml:ro", env=env, port=9100,
              command=("serve", "--config", "/config/world.yaml"))
    with httpx.Client(base_url=url, timeout=10) as http:
        info = http.get("/_sim/info").json()
        health = http.get("/_sim/health").json()
        # The image's default names: another container's service name passes, a rebinding page's name does not,
        # and a page of another origin cannot reset it (docs/container.md).
        assert http.get("/_sim/info", headers={"Host": "provider-sim:9100"}).status_code == 200
        assert http.get("/_sim/info", headers={"Host": "evil.example:9100"}).status_code == 403
        assert http.post("/_sim/reset", headers={"Origin": "http://evil.example"}).status_code == 403
    assert info["bird"]["accessKeys"][0]["key"] == "mounted-config-key-0001"
    assert info["seed"] == 7 and health["clock"]["mode"] == "manual" and health["store"]["durability"] == "process"
    assert info["config"].endswith("/config/world.yaml")
    if engine.podman:
        assert engine("healthcheck", "run", name, check=False).returncode == 0  # on the port from the environment
    warning = [line for line in logs(engine, name).splitlines() if "without a control token" in line]
    assert len(warning) == 1, logs(engine, name)
