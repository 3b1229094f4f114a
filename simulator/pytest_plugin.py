"""pytest plugin (registered through the pytest11 entry point): a simulator per session, reset per test.

Fixtures (all prefixed; ``faker`` and ``httpserver`` belong to other plugins):

- ``provider_sim_settings`` (session): the Settings used to start the in-process simulator; override it.
- ``provider_sim_seed`` (function): the seed each test starts from (default: the configured one); override it.
- ``provider_sim_server`` (session): the running simulator (in-process, or the one named by --provider-sim-url).
- ``provider_sim`` (function): a :class:`simulator.testing.SimClient` on a freshly reset simulator
  (``provider_sim.scenario`` holds the result when the marker named a scenario).
- ``provider_sim_receiver`` (function): a real loopback webhook receiver.

Marker: ``@pytest.mark.provider_sim(config="tests/fixtures/two.yaml", seed=7, scenario="otp-retry.yaml")``.
A config gets its own in-process simulator, started once per session and reset per test like the default one.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MARKER_KEYS = ("config", "seed", "scenario")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("provider-sim")
    group.addoption("--provider-sim-url", default=None,
                    help="use an already-running simulator at this URL instead of starting one in-process")
    group.addoption("--provider-sim-token", default=None,
                    help="the control token of the --provider-sim-url simulator (default: $PROVIDER_SIM_CONTROL_TOKEN)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "provider_sim(config=None, seed=None, scenario=None): run the test against a simulator with this "
                   "world config, seed, and/or after replaying this scenario (a path, or a name in scenarios/)")


class _External:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.settings = None
        self.token = token

    def stop(self) -> None:
        return None


@pytest.fixture(scope="session")
def provider_sim_settings() -> Any:
    from simulator.settings import Settings

    return Settings(db=":memory:", clock="manual", port=0, log_level="warning")


@pytest.fixture
def provider_sim_seed() -> int | None:
    """The seed every test starts from. ``None`` means the one the simulator was configured with."""
    return None


@pytest.fixture(scope="session")
def provider_sim_server(request: pytest.FixtureRequest, provider_sim_settings: Any) -> Iterator[Any]:
    url = request.config.getoption("--provider-sim-url")
    if url:
        token = request.config.getoption("--provider-sim-token") or os.environ.get("PROVIDER_SIM_CONTROL_TOKEN")
        yield _External(url, token or None)
        return
    from simulator.server import SimulatorServer

    server = SimulatorServer(provider_sim_settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _provider_sim_pool(provider_sim_settings: Any) -> Iterator[dict[str, Any]]:
    """One in-process simulator per world config named by a marker, shared by the session."""
    pool: dict[str, Any] = {}
    try:
        yield pool
    finally:
        for server in pool.values():
            server.stop()


def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("provider_sim"))):  # closest wins
        unknown = set(marker.kwargs) - set(MARKER_KEYS)
        if unknown or marker.args:
            raise pytest.UsageError(f"provider_sim marker takes only keyword arguments {MARKER_KEYS}, "
                                    f"got {sorted(unknown) or marker.args}")
        options.update({k: v for k, v in marker.kwargs.items() if v is not None})
    return options


def _resolve(path: str, request: pytest.FixtureRequest) -> str:
    candidate = Path(path)
    if not candidate.is_absolute():
        for base in (Path(str(request.node.path)).parent, Path(str(request.config.rootpath))):
            if (base / candidate).exists():
                return str(base / candidate)
    return str(candidate)


@pytest.fixture
def provider_sim(request: pytest.FixtureRequest, provider_sim_server: Any, provider_sim_seed: int | None,
                 _provider_sim_pool: dict[str, Any]) -> Iterator[Any]:
    from simulator.testing import SimClient

    options = _marker_options(request)
    server = provider_sim_server
    if options.get("config"):
        if isinstance(server, _External):
            pytest.skip("provider_sim(config=...) needs an in-process simulator; --provider-sim-url is set")
        config = _resolve(str(options["config"]), request)
        server = _provider_sim_pool.get(config)
        if server is None:
            from simulator.server import SimulatorServer

            server = SimulatorServer(provider_sim_server.settings.replace(port=0, config=config)).start()
            _provider_sim_pool[config] = server
    seed = options.get("seed", provider_sim_seed)
    client = SimClient(server.url, token=_token_of(server))
    client.reset(seed=seed)
    client.scenario = None  # type: ignore[attr-defined]
    try:
        if options.get("scenario"):
            from simulator.replay.loader import find_scenario, load_scenario
            from simulator.replay.runner import run_scenario

            scenario = load_scenario(find_scenario(_resolve(str(options["scenario"]), request)))
            result = run_scenario(scenario, client, reset=False)
            if not result.ok:
                pytest.fail(f"scenario {scenario.name!r} did not replay:\n{result.failure}", pytrace=False)
            client.scenario = result  # type: ignore[attr-defined]
        yield client
    finally:
        client.close()


def _token_of(server: Any) -> str | None:
    if isinstance(server, _External):
        return server.token
    return server.settings.control_token  # type: ignore[no-any-return]


@pytest.fixture
def provider_sim_receiver() -> Iterator[Any]:
    from simulator.testing import WebhookReceiver

    with WebhookReceiver() as receiver:
        yield receiver
