"""pytest plugin (registered through the pytest11 entry point): a simulator per session, reset per test.

Fixtures (all prefixed; ``faker`` and ``httpserver`` belong to other plugins):

- ``provider_sim_settings`` (session): the Settings used to start the in-process simulator; override it
  (its store: ``--provider-sim-db``, SQLite in memory unless told).
- ``provider_sim_databases`` (session): ``new(label) -> db`` gives a simulator a marker starts its own store: a
  fresh in-memory SQLite, a sibling file, or a sibling database on the same PostgreSQL server; override it.
- ``provider_sim_seed`` (function): the seed each test starts from (default: the configured one); override it.
- ``provider_sim_server`` (session): the running simulator (in-process, or the one named by --provider-sim-url).
- ``provider_sim`` (function): a :class:`simulator.testing.SimClient` on a freshly reset simulator
  (``provider_sim.scenario`` holds the result when the marker named a scenario).
- ``provider_sim_receiver`` (function): a real loopback webhook receiver.

Marker: ``@pytest.mark.provider_sim(config="tests/fixtures/two.yaml", seed=7, scenario="otp-retry.yaml")``.
A config gets its own in-process simulator, started once per session and reset per test like the default one.

Behaviour coverage (``--provider-sim-coverage``, ``--provider-sim-coverage-fail-under=PCT``,
``--provider-sim-coverage-require=ID,...``): at the end of the session, which provider behaviours the tests met and
how to provoke the others, like pytest-cov's report. Opt-in: a run that did not ask pays no request and prints
nothing. Each simulator the session started is read as it stops (less what it had counted before); under
pytest-xdist each worker sends its sum to the controller, which adds them up; a ``--provider-sim-url`` simulator is
read once by the controller at the start and at the end (workers share it: their sums would count it twice).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    # Imported where used: the plugin is loaded by every pytest run in an environment that has the package.
    from simulator.coverage_session import Counts, SessionCoverage
    from simulator.server import SimulatorServer
    from simulator.settings import Settings
    from simulator.testing import SimClient, WebhookReceiver

MARKER_KEYS = ("config", "seed", "scenario")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("provider-sim")
    group.addoption("--provider-sim-url", default=None,
                    help="use an already-running simulator at this URL instead of starting one in-process")
    group.addoption("--provider-sim-token", default=None,
                    help="the control token of the --provider-sim-url simulator (default: $PROVIDER_SIM_CONTROL_TOKEN)")
    group.addoption("--provider-sim-db", default=None,
                    help="the in-process simulator's store: :memory: (default), a SQLite file, or postgresql://..."
                         " (a database of its own: every test resets it)")
    group.addoption("--provider-sim-coverage", action="store_true", default=False,
                    help="at the end, print which provider behaviours the tests met and how to provoke the others")
    group.addoption("--provider-sim-coverage-fail-under", type=float, default=None, metavar="PCT",
                    help="fail the run if fewer than PCT %% of the behaviours were met (implies the report)")
    group.addoption("--provider-sim-coverage-require", action="append", default=[], metavar="ID,...",
                    help="fail the run unless each of these behaviours was met (ids from GET /_sim/coverage, "
                         "optionally provider:id; implies the report)")


class _CoverageRun:
    """The session's behaviour coverage: what each simulator counted, and the verdict."""

    def __init__(self, config: pytest.Config) -> None:
        from simulator.coverage_session import SessionCoverage

        self.fail_under: float | None = config.getoption("--provider-sim-coverage-fail-under")
        self.required = [i.strip() for item in config.getoption("--provider-sim-coverage-require")
                         for i in item.split(",") if i.strip()]
        self.enabled = bool(config.getoption("--provider-sim-coverage") or self.fail_under is not None
                            or self.required)
        self.worker = hasattr(config, "workerinput")  # a pytest-xdist worker: the controller reports
        self.session: SessionCoverage = SessionCoverage()
        self.external: tuple[str, str | None, Counts] | None = None  # --provider-sim-url, token, counts at start
        self.failures: list[str] = []


_COVERAGE = pytest.StashKey[_CoverageRun]()
_WORKER_KEY = "provider_sim_coverage"


def _coverage_run(config: pytest.Config) -> _CoverageRun:
    return config.stash[_COVERAGE]


def _counts_of(url: str, token: str | None) -> Counts:
    from simulator.coverage_session import read
    from simulator.testing import SimClient

    with SimClient(url, token=token) as client:
        return read(client)[1]


def _collect(config: pytest.Config, url: str, token: str | None, baseline: Counts) -> None:
    """Add what the simulator at ``url`` counted since ``baseline`` to the session's coverage."""
    from simulator.testing import SimClient

    with SimClient(url, token=token) as client:
        _coverage_run(config).session.add_since(client, baseline)


def pytest_sessionstart(session: pytest.Session) -> None:
    run = _coverage_run(session.config)
    url = session.config.getoption("--provider-sim-url")
    if run.enabled and url and not run.worker:
        token = session.config.getoption("--provider-sim-token") or os.environ.get("PROVIDER_SIM_CONTROL_TOKEN")
        run.external = (url, token or None, _counts_of(url, token or None))


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    result = yield  # every test ran, every session fixture (and the simulators it started) is torn down
    run = _coverage_run(session.config)
    if run.enabled and not run.worker:
        if run.external is not None:
            url, token, baseline = run.external
            _collect(session.config, url, token, baseline)
        run.failures = run.session.failures(run.fail_under, run.required)
        if run.failures:
            session.testsfailed += 1  # the run fails as pytest-cov's --cov-fail-under makes it fail
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = _coverage_run(session.config)
    if run.enabled and run.worker:
        session.config.workeroutput[_WORKER_KEY] = run.session.to_data()  # type: ignore[attr-defined]  # xdist's


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist (controller): a worker finished; add up what its simulators counted."""
    from simulator.coverage_session import SessionCoverage

    data = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if data is not None:
        _coverage_run(node.config).session.merge(SessionCoverage.from_data(data))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = _coverage_run(config)
    if not run.enabled or run.worker:
        return
    terminalreporter.write_sep("-", "provider-sim behaviour coverage")
    if not run.session.simulators:
        terminalreporter.write_line("no simulator ran in this session")
    else:
        for line in run.session.table().splitlines():
            terminalreporter.write_line(line)
    for failure in run.failures:
        terminalreporter.write_line(f"FAIL {failure}", red=True, bold=True)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_COVERAGE] = _CoverageRun(config)
    config.addinivalue_line(
        "markers", "provider_sim(config=None, seed=None, scenario=None): run the test against a simulator with this "
                   "world config, seed, and/or after replaying this scenario (a path, or a name in scenarios/)")


class _External:
    """A simulator someone else runs (``--provider-sim-url``): nothing to start or stop."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.settings = None
        self.token = token

    def stop(self) -> None:
        return None


@pytest.fixture(scope="session")
def provider_sim_settings(request: pytest.FixtureRequest) -> Settings:
    from simulator.settings import Settings

    db = request.config.getoption("--provider-sim-db") or ":memory:"
    # A test keeps everything it made, however far it moves the clock (retention="off"; docs/retention.md).
    return Settings(db=db, clock="manual", port=0, log_level="warning", retention="off")


@pytest.fixture(scope="session")
def provider_sim_databases(provider_sim_settings: Settings) -> Callable[[str], str]:
    """``new(label)``: a store of its own for a simulator a marker starts, next to ``provider_sim_settings``'s."""
    base = provider_sim_settings.db

    def new(label: str) -> str:
        if base == ":memory:":
            return base
        from simulator.core.store import is_postgres_url

        if is_postgres_url(base):
            return _sibling_database(base, label)
        return str(Path(base).with_name(f"{Path(base).stem}-{label}{Path(base).suffix}"))

    return new


def _sibling_database(url: str, label: str) -> str:
    """A fresh database named after ``url``'s and ``label`` on the same server (needs the CREATEDB right)."""
    import asyncio
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/')}_{label}"[:63]

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def provider_sim_seed() -> int | None:
    """The seed every test starts from. ``None`` means the one the simulator was configured with."""
    return None


@pytest.fixture(scope="session")
def provider_sim_server(request: pytest.FixtureRequest,
                        provider_sim_settings: Settings) -> Iterator[SimulatorServer | _External]:
    url: str | None = request.config.getoption("--provider-sim-url")
    if url:
        token = request.config.getoption("--provider-sim-token") or os.environ.get("PROVIDER_SIM_CONTROL_TOKEN")
        yield _External(url, token or None)
        return
    from simulator.server import SimulatorServer

    server = SimulatorServer(provider_sim_settings).start()
    try:
        baseline = _watch(request.config, server)
        yield server
    finally:
        _stop(request.config, server, baseline)


def _watch(config: pytest.Config, server: SimulatorServer) -> Counts | None:
    """What a simulator the session just started had counted already (None: no coverage asked for)."""
    if not _coverage_run(config).enabled:
        return None
    return _counts_of(server.url, server.settings.control_token)


def _stop(config: pytest.Config, server: SimulatorServer, baseline: Counts | None) -> None:
    try:
        if baseline is not None:
            _collect(config, server.url, server.settings.control_token, baseline)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _provider_sim_pool(request: pytest.FixtureRequest, provider_sim_settings: Settings,
                       provider_sim_databases: Callable[[str], str]) -> Iterator[dict[str, SimulatorServer]]:
    """One in-process simulator per world config named by a marker, shared by the session."""
    pool: dict[str, SimulatorServer] = {}
    baselines: dict[str, Counts | None] = {}
    request.config.stash[_POOL_BASELINES] = baselines
    try:
        yield pool
    finally:
        for config, server in pool.items():
            _stop(request.config, server, baselines.get(config))


_POOL_BASELINES = pytest.StashKey[dict[str, "Counts | None"]]()


def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The marker's keyword arguments (closest marker wins), as the test wrote them: pytest does not type them."""
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
def provider_sim(request: pytest.FixtureRequest, provider_sim_server: SimulatorServer | _External,
                 provider_sim_seed: int | None, _provider_sim_pool: dict[str, SimulatorServer],
                 provider_sim_databases: Callable[[str], str]) -> Iterator[SimClient]:
    from simulator.testing import SimClient

    options = _marker_options(request)
    server: SimulatorServer | _External = provider_sim_server
    if options.get("config"):
        if isinstance(provider_sim_server, _External):
            pytest.skip("provider_sim(config=...) needs an in-process simulator; --provider-sim-url is set")
        config = _resolve(str(options["config"]), request)
        pooled = _provider_sim_pool.get(config)
        if pooled is None:
            from simulator.server import SimulatorServer

            label = f"w{len(_provider_sim_pool) + 1}"  # a world config of its own, a store of its own
            settings = provider_sim_server.settings.replace(port=0, config=config, db=provider_sim_databases(label))
            pooled = SimulatorServer(settings).start()
            _provider_sim_pool[config] = pooled
            request.config.stash[_POOL_BASELINES][config] = _watch(request.config, pooled)
        server = pooled
    seed = options.get("seed", provider_sim_seed)
    client = SimClient(server.url, token=_token_of(server))
    client.reset(seed=seed)
    try:
        if options.get("scenario"):
            from simulator.replay.loader import find_scenario, load_scenario
            from simulator.replay.runner import run_scenario

            scenario = load_scenario(find_scenario(_resolve(str(options["scenario"]), request)))
            result = run_scenario(scenario, client, reset=False)
            if not result.ok:
                pytest.fail(f"scenario {scenario.name!r} did not replay:\n{result.failure}", pytrace=False)
            client.scenario = result
        yield client
    finally:
        client.close()


def _token_of(server: SimulatorServer | _External) -> str | None:
    if isinstance(server, _External):
        return server.token
    return server.settings.control_token


@pytest.fixture
def provider_sim_receiver() -> Iterator[WebhookReceiver]:
    from simulator.testing import WebhookReceiver

    with WebhookReceiver() as receiver:
        yield receiver
