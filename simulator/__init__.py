"""provider-simulator: a local, stateful fake of Bird's Channels API and Apple Messages for Business."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports on first use
    from simulator.app import create_app
    from simulator.settings import Settings
    from simulator.testing import Simulator

__version__ = "0.1.0"

__all__ = ["Settings", "Simulator", "__version__", "create_app"]


def __getattr__(name: str) -> object:
    # Lazy re-exports keep `import simulator` cheap (the pytest plugin imports it on every run).
    if name == "create_app":
        from simulator.app import create_app

        return create_app
    if name == "Settings":
        from simulator.settings import Settings

        return Settings
    if name == "Simulator":
        from simulator.testing import Simulator

        return Simulator
    raise AttributeError(name)
