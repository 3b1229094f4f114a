"""Shared test setup. The provider_sim* fixtures come from the package's own pytest plugin (pytest11).

Every test that uses a simulator runs on both stores: ``store_kind`` is a session fixture with two params, SQLite
(in memory or a file) and PostgreSQL (a throwaway server this session starts: simulator/testing_postgres.py). The
plugin's ``provider_sim_settings`` and ``provider_sim_databases`` follow it, and a test that starts simulators of its
own asks ``db(name)`` for a store of the same kind. Under CI=true a PostgreSQL server that cannot start is an error;
elsewhere those tests skip with the reason.
"""
from __future__ import annotations

import asyncio
import importlib
import itertools
import os
import pkgutil
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import simulator
from simulator.settings import Settings
from simulator.testing_postgres import PostgresUnavailable, ThrowawayPostgres

# Every simulator module is imported before any test runs. The pytester fixture restores sys.modules when its test
# ends, so a module first imported during such a test (one that starts a SimulatorServer in this process) would be
# dropped and imported again later as a second module: its classes would then not be the ones a simulator built
# earlier registers (exception handlers, providers) and an error would go unanswered as a 500.
for _module in pkgutil.walk_packages(simulator.__path__, "simulator."):
    if _module.name not in ("simulator.__main__", "simulator.testcontainers"):
        importlib.import_module(_module.name)

STORES = ("sqlite", "postgresql")
TEMPLATE = "provider_sim_template"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server of this session (this xdist worker's), with a migrated template database to copy."""
    try:
        server = ThrowawayPostgres().start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and no PostgreSQL server can be started: {exc}", pytrace=False)
        pytest.skip(f"no PostgreSQL server can be started here: {exc}")
    try:
        from simulator.core.postgres_store import PostgresStore

        async def migrate(url: str) -> None:
            store = PostgresStore(url)
            await store.open()
            await store.close()

        asyncio.run(migrate(server.create_database(TEMPLATE)))
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session", params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store this run of the test uses (the test id says it: [sqlite] or [postgresql])."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres")
    return str(request.param)


def _fresh_postgres(request: pytest.FixtureRequest) -> str:
    server: ThrowawayPostgres = request.getfixturevalue("postgres")
    return server.create_database(f"sim_{os.getpid()}_{next(_names)}_{secrets.token_hex(3)}", template=TEMPLATE)


@pytest.fixture(scope="session")
def provider_sim_settings(request: pytest.FixtureRequest, store_kind: str) -> Settings:
    db = _fresh_postgres(request) if store_kind == "postgresql" else ":memory:"
    return Settings(db=db, clock="manual", port=0, log_level="warning", retention="off")


@pytest.fixture(scope="session")
def provider_sim_databases(request: pytest.FixtureRequest, store_kind: str) -> Callable[[str], str]:
    def new(label: str) -> str:
        return _fresh_postgres(request) if store_kind == "postgresql" else ":memory:"

    return new


@pytest.fixture(scope="session")
def new_database(request: pytest.FixtureRequest, store_kind: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """``new_database(name)``: an empty store of this run's kind, new at each call (SQLite: a file)."""
    def new(name: str = "sim") -> str:
        if store_kind == "postgresql":
            return _fresh_postgres(request)
        return str(tmp_path_factory.mktemp("db") / f"{name}.db")

    return new


class Databases:
    """``db(name)``: a store for a simulator this test starts, of this run's kind; the same name gives the same store
    (a restart), another name another one. SQLite: a file under the test's tmp_path; PostgreSQL: a fresh database."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self._tmp_path = tmp_path
        self._request = request
        self._made: dict[str, str] = {}

    def __call__(self, name: str = "sim") -> str:
        if name not in self._made:
            self._made[name] = _fresh_postgres(self._request) if self.kind == "postgresql" \
                else str(self._tmp_path / f"{name}.db")
        return self._made[name]

    @property
    def postgres(self) -> bool:
        return self.kind == "postgresql"


@pytest.fixture
def db(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Databases:
    return Databases(store_kind, tmp_path, request)
