"""The simulator as a Testcontainers container, for tests that want the image rather than an in-process server.

Needs the ``testcontainers`` library (``pip install 'provider-simulator[testcontainers]'``) and an engine with a
Docker-compatible API (Docker, or ``podman system service``; see docs/container.md)::

    from simulator.testcontainers import ProviderSimContainer

    with ProviderSimContainer("provider-sim:latest", control_token="s3cret") as container:
        sim = container.client()                  # a SimClient, as the provider_sim fixture gives
        message = sim.send_sms("+15551230000", "Your code is 4821")
        sim.advance(10)                           # manual clock by default: time moves when the test says so
        assert sim.get_message(message["id"])["status"] == "delivered"

It waits for ``GET /_sim/health`` to answer 200 (open even with a control token) before ``start()`` returns.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from simulator.testing import SimClient

try:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("simulator.testcontainers needs the testcontainers library (4.13 or later): "
                      "pip install 'provider-simulator[testcontainers]'") from exc

PORT = 8790
DEFAULT_IMAGE = "provider-sim:latest"  # what `docker build -t provider-sim .` makes; PROVIDER_SIM_IMAGE overrides
CONFIG_PATH = "/config/world.yaml"
# The name under which the container reaches the machine that runs the test (a webhook receiver there): Docker
# maps it to the host's gateway through extra_hosts ("host-gateway"); podman defines its own name by itself.
HOST_ALIAS = "host.docker.internal"
PODMAN_HOST_ALIAS = "host.containers.internal"


class ProviderSimContainer(DockerContainer):
    """The simulator image, started with a manual clock by default.

    :param image: the image (default ``$PROVIDER_SIM_IMAGE`` or ``provider-sim:latest``).
    :param control_token: set ``PROVIDER_SIM_CONTROL_TOKEN`` and have :meth:`client` send it.
    :param clock: ``manual`` (default: the test moves time) or ``real``.
    :param seed: the seed for ids and fake data: 0 by default, as the pytest fixtures (a test run repeats); None lets
        the server draw one, as an unseeded ``provider-sim serve`` does.
    :param config: a world config YAML on this machine, mounted read-only into the container.
    :param env: more ``PROVIDER_SIM_*`` settings, e.g. ``{"PROVIDER_SIM_DURABILITY": "full"}``.
    """

    def __init__(self, image: str | None = None, *, control_token: str | None = None, clock: str = "manual",
                 seed: int | None = 0, config: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(image or os.environ.get("PROVIDER_SIM_IMAGE", DEFAULT_IMAGE), **kwargs)
        self._create_kwargs = dict(kwargs)
        self.control_token = control_token
        self.host_alias = HOST_ALIAS
        self.with_exposed_ports(PORT)
        settings = {"PROVIDER_SIM_CLOCK": clock, **(env or {})}
        if control_token:
            settings["PROVIDER_SIM_CONTROL_TOKEN"] = control_token
        if seed is not None:
            settings["PROVIDER_SIM_SEED"] = str(seed)
        if config is not None:
            self.with_volume_mapping(str(Path(config).resolve()), CONFIG_PATH, "ro")
            settings["PROVIDER_SIM_CONFIG"] = CONFIG_PATH
        self.with_envs(**settings)
        self.waiting_for(HttpWaitStrategy(PORT, "/_sim/health").for_status_code(200))
        self._clients: list[SimClient] = []

    def _configure(self) -> None:
        # Testcontainers' hook, called just before the container is created.
        components = self.get_docker_client().client.version().get("Components") or []
        if any("podman" in str(c.get("Name", "")).lower() for c in components):
            self.host_alias = PODMAN_HOST_ALIAS  # podman (4.x) writes "host-gateway" into /etc/hosts as it is
        elif "extra_hosts" not in self._create_kwargs:
            self.with_kwargs(**self._create_kwargs, extra_hosts={HOST_ALIAS: "host-gateway"})

    def get_base_url(self) -> str:
        """The simulator's URL from the machine that runs the test."""
        return f"http://{self.get_container_host_ip()}:{self.get_exposed_port(PORT)}"

    @property
    def base_url(self) -> str:
        return self.get_base_url()

    def client(self) -> SimClient:
        """A :class:`~simulator.testing.SimClient` on this container (closed when the container stops)."""
        client = SimClient(self.get_base_url(), token=self.control_token)
        self._clients.append(client)
        return client

    def ids(self) -> dict[str, str]:
        """The seeded world's ids and credentials: what a test configures its app under test with."""
        with SimClient(self.get_base_url(), token=self.control_token) as client:
            info = client.info()
        bird = info["bird"]
        workspace = bird["workspaces"][0]
        ids = {"organizationId": bird["organizationId"], "workspaceId": workspace["id"],
               "channelId": workspace["channels"][0]["id"], "accessKey": bird["accessKeys"][0]["key"]}
        bc = info.get("businessChat")
        if bc:
            ids.update({"mspId": bc["mspId"], "secret": bc["secret"], "businessId": bc["businesses"][0]["id"],
                        "customerId": bc["customers"][0]["id"]})
        return ids

    def host_url(self, port: int, path: str = "") -> str:
        """A URL on the machine that runs the test, as the started container reaches it (for a webhook receiver
        there, listening on an address the container's network can reach, such as 0.0.0.0)."""
        return f"http://{self.host_alias}:{port}{path}"

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        super().stop(force=force, delete_volume=delete_volume)
