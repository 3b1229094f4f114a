"""Shared test setup. The provider_sim* fixtures come from the package's own pytest plugin (pytest11)."""
from __future__ import annotations

import importlib
import pkgutil

import simulator

# Every simulator module is imported before any test runs. The pytester fixture restores sys.modules when its test
# ends, so a module first imported during such a test (one that starts a SimulatorServer in this process) would be
# dropped and imported again later as a second module: its classes would then not be the ones a simulator built
# earlier registers (exception handlers, providers) and an error would go unanswered as a 500.
for _module in pkgutil.walk_packages(simulator.__path__, "simulator."):
    if _module.name not in ("simulator.__main__", "simulator.testcontainers"):
        importlib.import_module(_module.name)
