"""Where shipped data lives: inside the wheel (simulator/_schemas …) or, in a checkout, next to the package."""
from __future__ import annotations

import functools
import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path


def _root(packaged: str, top_level: str) -> Traversable:
    candidate = importlib.resources.files("simulator").joinpath(packaged)
    if candidate.is_dir():
        return candidate
    # Editable installs and checkouts do not see hatchling's force-include: use the source tree.
    return Path(__file__).resolve().parents[1] / top_level


@functools.cache
def schemas_root() -> Traversable:
    return _root("_schemas", "schemas")


@functools.cache
def fixtures_root() -> Traversable:
    return _root("_fixtures", "fixtures")


@functools.cache
def scenarios_root() -> Traversable:
    return _root("_scenarios", "scenarios")
