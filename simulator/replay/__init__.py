"""Scenarios: load a YAML script (loader), run its steps against a simulator (runner), check expectations."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports on first use
    from simulator.replay.loader import load_scenario
    from simulator.replay.runner import run_scenario

__all__ = ["load_scenario", "run_scenario"]


def __getattr__(name: str) -> object:
    if name == "load_scenario":
        from simulator.replay.loader import load_scenario

        return load_scenario
    if name == "run_scenario":
        from simulator.replay.runner import run_scenario

        return run_scenario
    raise AttributeError(name)
