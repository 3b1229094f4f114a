"""pytest plugin (registered through the pytest11 entry point): a simulator per session, reset per test.

Fixtures (all prefixed; ``faker`` and ``httpserver`` belong to other plugins):
- ``provider_sim_settings`` (session): the Settings used to start the in-process simulator; override it.
- ``provider_sim_server`` (session): the running simulator (in-process, or the one named by --provider-sim-url).
- ``provider_sim`` (function): a SimClient on a freshly reset simulator.
- ``provider_sim_receiver`` (function): a real loopback webhook receiver.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("provider-sim")
    group.addoption("--provider-sim-url", default=None,
                    help="use an already-running simulator at this URL instead of starting one in-process")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "provider_sim(config=None, seed=None): run the test against a simulator with this world config/seed")


class _External:
    def __init__(self, url: str) -> None:
        self.url = url

    def stop(self) -> None:
        return None


@pytest.fixture(scope="session")
def provider_sim_settings() -> Any:
    from simulator.settings import Settings

    return Settings(db=":memory:", clock="manual", port=0, log_level="warning")


@pytest.fixture(scope="session")
def provider_sim_server(request: pytest.FixtureRequest, provider_sim_settings: Any) -> Iterator[Any]:
    url = request.config.getoption("--provider-sim-url")
    if url:
        yield _External(url)
        return
    from simulator.server import SimulatorServer

    server = SimulatorServer(provider_sim_settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def provider_sim(request: pytest.FixtureRequest, provider_sim_server: Any) -> Iterator[Any]:
    from simulator.testing import SimClient

    marker = request.node.get_closest_marker("provider_sim")
    server = provider_sim_server
    own = None
    if marker is not None and (marker.kwargs.get("config") or marker.kwargs.get("seed") is not None):
        from simulator.server import SimulatorServer
        from simulator.settings import Settings

        base = getattr(server, "settings", None) or Settings(db=":memory:", clock="manual", port=0)
        overrides = {k: v for k, v in marker.kwargs.items() if k in ("config", "seed") and v is not None}
        own = SimulatorServer(base.replace(port=0, **overrides)).start()
        server = own
    client = SimClient(server.url)
    client.reset()
    try:
        yield client
    finally:
        client.close()
        if own is not None:
            own.stop()


@pytest.fixture
def provider_sim_receiver() -> Iterator[Any]:
    from simulator.testing import WebhookReceiver

    with WebhookReceiver() as receiver:
        yield receiver
