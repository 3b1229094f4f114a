"""The README's examples run as written."""
from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_simulator_example_runs():
    block = next(b for b in python_blocks() if "with Simulator()" in b)
    exec(compile(block, "README.md", "exec"), {})


def test_pytest_example_runs(provider_sim):
    block = next(b for b in python_blocks() if "def test_otp_is_delivered" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    namespace["test_otp_is_delivered"](provider_sim)


def test_curl_example_ids_match_the_seeded_world(provider_sim):
    info = provider_sim.info()
    ws = info["bird"]["workspaces"][0]
    assert f"WS={ws['id']}" in README and f"CH={ws['channels'][0]['id']}" in README
    assert info["bird"]["accessKeys"][0]["key"] in README
