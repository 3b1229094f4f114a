"""provider-sim: serve the simulator, replay scenarios, run a local PostgreSQL for it."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from simulator import __version__
from simulator.settings import ENV_PREFIX, Settings

if TYPE_CHECKING:
    from simulator.core.simulation import Simulation

F = TypeVar("F", bound=Callable[..., None])


def _opt(name: str, *, help: str, kind: click.Choice[str] | type[int | float] | None = None) -> Callable[[F], F]:
    """A ``serve`` option that defaults to None (Settings decides) and reads ``PROVIDER_SIM_<NAME>``."""
    env = ENV_PREFIX + name.lstrip("-").replace("-", "_").upper()
    return click.option(name, envvar=env, show_envvar=True, default=None, type=kind, help=help)


@click.group()
@click.version_option(__version__, prog_name="provider-sim")
def main() -> None:
    """A local, stateful fake of Bird's Channels API and Apple Messages for Business."""


@main.command()
@_opt("--host", help="Address to bind (default 127.0.0.1).")
@_opt("--port", kind=int, help="Port (default 8790; 0 picks a free one and prints it).")
@_opt("--db", help="SQLite file, or :memory: (default ./.provider-sim/simulator.db).")
@_opt("--durability", kind=click.Choice(["process", "full"]),
      help="process (default): survives kill -9; full: also power loss (fsync per commit).")
@_opt("--config", help="World config YAML (default: the embedded default world).")
@_opt("--seed", kind=int, help="Seed for ids and fake data.")
@_opt("--clock", kind=click.Choice(["real", "manual"]), help="real (default) or manual.")
@_opt("--clock-speed", kind=float, help="Real clock speed factor (e.g. 60).")
@_opt("--log-level", kind=click.Choice(["debug", "info", "warning", "error"]), help="Log level.")
@_opt("--control-token", help="Token that /_sim/* (but /_sim/health) and the web UI require (default: none).")
@_opt("--workers", kind=int, help="Worker processes behind the one port (default 1; above 1 needs PostgreSQL).")
def serve(**flags: Any) -> None:  # click's keyword arguments, one per option above (None when not given)
    """Run the dev server."""
    import uvicorn

    from simulator.app import create_app
    from simulator.core.db_guard import DatabaseUnusable, preflight
    from simulator.core.sqlite_tuning import stop_memory_statistics
    from simulator.core.store import is_postgres_url, migration_files
    from simulator.world import ConfigError

    workers = flags.pop("workers") or 1
    # Flags were already merged with env by click; Settings.from_env fills the rest (env-only settings).
    settings = Settings.from_env(**flags)
    if workers < 1:
        click.echo("provider-sim: --workers must be 1 or more", err=True)
        sys.exit(2)
    if workers > 1 and not is_postgres_url(settings.db):
        # One SQLite file is one process's: the workers of a fleet share their state through PostgreSQL.
        click.echo("provider-sim: --workers above 1 needs a PostgreSQL database (--db postgresql://…; "
                   "`provider-sim postgres` starts one); SQLite is one process's", err=True)
        sys.exit(2)
    if flags.get("seed") is None and os.environ.get(ENV_PREFIX + "SEED") is None and not _config_seeds(settings.config):
        # A server nobody seeded draws its seed, so two of them never hand out the same ids; the banner and
        # /_sim/info say which, and --seed N replays it. In-process simulators, fixtures and replay stay at 0.
        settings = settings.replace(seed=secrets.randbelow(2**31 - 1) + 1)
    if os.environ.get("PROVIDER_SIM_TUNE_GC") is None:
        settings = settings.replace(tune_gc=True)  # this process is the simulator's own (see Settings.tune_gc)
    # Bind (and listen) before printing the banner, so "listening on" is true when a script reads it.
    # IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on such sockets (else ~44 ms per keep-alive request).
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        click.echo(f"provider-sim: cannot listen on {settings.host}:{settings.port}: {exc.strerror}", err=True)
        sys.exit(2)
    sock.listen(2048)
    settings = settings.replace(port=sock.getsockname()[1])
    stop_memory_statistics()  # before this process opens any db (preflight is the first): see the module
    try:  # what the store would refuse, said in one line
        if is_postgres_url(settings.db):
            from simulator.core.postgres_store import PostgresStore

            asyncio.run(PostgresStore(settings.db).check())
        else:
            preflight(settings.db, migration_files())
    except DatabaseUnusable as exc:
        click.echo(f"provider-sim: {exc}", err=True)
        sys.exit(2)
    try:
        app = create_app(settings)
    except ConfigError as exc:
        click.echo(f"provider-sim: {exc}", err=True)
        sys.exit(2)
    from simulator.control.access import is_loopback_host

    if not settings.control_token and not is_loopback_host(settings.host):  # before the banner that says "ready"
        click.echo(f"provider-sim: warning: listening on {settings.host} without a control token: whoever reaches "
                   "this port can reset the simulator and read its credentials (set PROVIDER_SIM_CONTROL_TOKEN)",
                   err=True)
    _print_banner(app.state.sim, workers)
    from simulator.core.http_server import BoundedHttpToolsProtocol

    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        # uvicorn's supervisor: the workers share this socket, a worker that dies or hangs is replaced. Each builds
        # its own app from these settings (fleet_worker_app); the fleet makes them one simulator (core/fleet.py).
        os.environ[FLEET_SETTINGS_ENV] = json.dumps(dataclasses.asdict(settings))
        config = uvicorn.Config("simulator.cli:fleet_worker_app", factory=True, workers=workers,
                                host=settings.host, port=settings.port, log_level=settings.log_level,
                                access_log=settings.log_level == "debug", lifespan="on",
                                http=BoundedHttpToolsProtocol)
        Multiprocess(config, sockets=[sock]).run()
        return
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                            access_log=settings.log_level == "debug", lifespan="on", http=BoundedHttpToolsProtocol)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])


FLEET_SETTINGS_ENV = "PROVIDER_SIM_FLEET_WORKER_SETTINGS"


def fleet_worker_app() -> Any:
    """A worker of ``serve --workers N`` (run in a process of uvicorn's supervisor): the parent's settings."""
    from simulator.app import create_app

    return create_app(Settings(**json.loads(os.environ[FLEET_SETTINGS_ENV])))


@main.command()
@click.argument("scenarios", nargs=-1, required=True)
@click.option("--against", metavar="URL", envvar="PROVIDER_SIM_AGAINST", show_envvar=True, default=None,
              help="Run against a running simulator (it is reset first) instead of a fresh in-process one.")
@click.option("--seed", type=int, default=None, help="Seed (default: the scenario's, else the world's).")
@click.option("--control-token", envvar=ENV_PREFIX + "CONTROL_TOKEN", show_envvar=True, default=None,
              help="The --against simulator's control token.")
@click.option("--coverage", is_flag=True, default=False,
              help="At the end, print which provider behaviours the scenarios met and how to provoke the others.")
def replay(scenarios: tuple[str, ...], against: str | None, seed: int | None, control_token: str | None,
           coverage: bool) -> None:
    """Replay scenario files (scenarios/*.yaml), each on a freshly reset simulator; a scenario stops at its first
    unmet expectation. Exits 1 if one failed, 2 at a bad file."""
    from simulator.coverage_session import SessionCoverage, read
    from simulator.replay.runner import main_run
    from simulator.testing import SimClient

    session = SessionCoverage()

    def watch(client: SimClient) -> Callable[[], None]:
        baseline = read(client)[1]
        return lambda: session.add_since(client, baseline)

    worst = 0
    for scenario in scenarios:
        code = main_run(scenario, against=against, seed=seed, token=control_token, watch=watch if coverage else None)
        if code == 2:
            sys.exit(2)
        worst = max(worst, code)
    if coverage:
        click.echo("")
        click.echo(session.table() if session.simulators else "no scenario ran: no behaviour coverage", nl=False)
    sys.exit(worst)


@main.command()
@click.option("--url", default=None, help="The simulator's URL (default: this machine, PROVIDER_SIM_PORT or 8790).")
@click.option("--timeout", type=float, default=3.0, show_default=True, help="Seconds to wait for the answer.")
def health(url: str | None, timeout: float) -> None:
    """Exit 0 if the simulator answers GET /_sim/health with 200, else 1 (the container's health check)."""
    import urllib.request

    if url is None:
        settings = Settings.from_env()
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)  # noqa: S104 - mapping a wildcard bind to where to call it
        url = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"
    # No proxy: HTTP_PROXY in a container's environment is for the outside world, not for this loopback call.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url.rstrip("/") + "/_sim/health", timeout=timeout) as response:
            status = response.status
    except (OSError, ValueError) as exc:
        click.echo(f"provider-sim health: {url}: {exc}", err=True)
        sys.exit(1)
    if status != 200:
        click.echo(f"provider-sim health: {url}: HTTP {status}", err=True)
        sys.exit(1)


@main.command()
@click.option("--dir", "directory", default=".provider-sim/postgres", show_default=True,
              type=click.Path(file_okay=False), help="Where the server keeps its data (made on first use, kept).")
@click.option("--port", type=int, default=5433, show_default=True, help="Port on 127.0.0.1.")
def postgres(directory: str, port: int) -> None:
    """Run a local PostgreSQL server for --db postgresql://... until Ctrl-C or SIGTERM.

    Uses the PostgreSQL binaries of this machine (Debian's postgresql package; as root on Debian it installs the
    package when missing, and runs the server as a system user, since PostgreSQL refuses root). The server
    listens on 127.0.0.1 only and trusts local connections: a development server, not one to expose.
    """
    import signal
    from pathlib import Path

    from simulator.testing_postgres import PostgresUnavailable, ThrowawayPostgres

    try:
        server = ThrowawayPostgres(root=Path(directory), port=port, fsync=True).start()
    except (PostgresUnavailable, OSError) as exc:
        hint = ""
        if "Permission denied" in str(exc) and os.geteuid() == 0:
            hint = (f"\n(as root the server runs as the system user provider-sim-pg, which must be able to enter "
                    f"every directory above {Path(directory).resolve()})")
        click.echo(f"provider-sim postgres: {exc}{hint}", err=True)
        sys.exit(2)
    stop = asyncio.Event()
    try:
        if "provider_sim" not in server.psql("SELECT datname FROM pg_database").split():
            server.create_database("provider_sim")
        click.echo(f"PostgreSQL on 127.0.0.1:{port}, data in {server.root}; run the simulator on it with\n"
                   f"  provider-sim serve --db {server.url('provider_sim')}", err=False)

        async def wait() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()

        asyncio.run(wait())
    finally:
        server.close()
        click.echo("PostgreSQL stopped")


def _config_seeds(path: str | None) -> bool:
    """Whether a world config file sets ``seed`` (the embedded default world's ``seed: 0`` does not count)."""
    if not path:
        return False
    import yaml

    try:
        with open(path, encoding="utf-8") as file:
            raw = yaml.safe_load(file)
    except (OSError, yaml.YAMLError):
        return False  # create_app reports what is wrong with the file
    return isinstance(raw, dict) and "seed" in raw


def _print_banner(sim: Simulation, workers: int = 1) -> None:
    settings = sim.settings
    fleet = f", {workers} workers" if workers > 1 else ""
    listening = (f"listening on {settings.base_url}  (db: {settings.db}, clock: {sim.clock.mode}{fleet}, "
                 f"seed: {sim.random.seed}; --seed {sim.random.seed} replays it)")
    lines = [f"provider-sim {__version__} {listening}"]
    for provider in sim.providers:
        lines += provider.banner()
    guarded = "  (control token required)" if sim.settings.control_token else ""
    lines.append(f"  Control      {sim.settings.base_url}/_sim/info{guarded}")
    click.echo("\n".join(lines), err=False)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
