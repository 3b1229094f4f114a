"""Fixtures for the container tests: the engine and the image built from this tree (once per session)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.container.engine import Engine, build_image, find_engine


@pytest.fixture(scope="session")
def engine() -> Engine:
    found, why = find_engine()
    if found is None:
        pytest.skip(why)
    return found


@pytest.fixture(scope="session")
def image(engine: Engine) -> str:
    return build_image(engine)


class Names:
    """Unique container and volume names; whatever is named here is removed when the test ends."""

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.volumes: list[str] = []

    def container(self) -> str:
        self.containers.append(f"provider-sim-test-{uuid.uuid4().hex[:10]}")
        return self.containers[-1]

    def volume(self) -> str:
        self.volumes.append(f"provider-sim-test-data-{uuid.uuid4().hex[:10]}")
        return self.volumes[-1]


@pytest.fixture
def names(engine: Engine) -> Iterator[Names]:
    made = Names()
    yield made
    for name in made.containers:
        engine("rm", "--force", "--volumes", name, check=False)  # and its anonymous /data volume
    for name in made.volumes:
        engine("volume", "rm", "--force", name, check=False)
