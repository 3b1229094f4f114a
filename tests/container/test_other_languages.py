"""The Node and Java programs of docs/other-languages.md, taken from the page as printed and run against the image:
each sends an SMS and reads it back delivered, then sends a list picker and gets the customer's choice on its
webhook. Each is skipped where its runtime is not installed."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.container.conftest import Names
from tests.container.engine import ROOT, Engine
from tests.container.test_image import run

pytestmark = [pytest.mark.container, pytest.mark.timeout(1200)]

TOKEN = "other-languages-token-2Wc7"


def program(language: str) -> str:
    page = (ROOT / "docs" / "other-languages.md").read_text()
    blocks = re.findall(rf"```{language}\n(.*?)```", page, re.DOTALL)
    assert len(blocks) == 1, f"expected one ```{language} block in docs/other-languages.md"
    return blocks[0]


@pytest.mark.parametrize("language, file, command, expected", [
    ("js", "demo.mjs", ["node", "demo.mjs"], "picked [ 'm' ]"),
    ("java", "ProviderSimDemo.java", ["java", "ProviderSimDemo.java"], "picked m"),
])
def test_program_from_the_page_runs_against_the_container(engine: Engine, image: str, names: Names, tmp_path: Path,
                                                          language: str, file: str, command: list[str],
                                                          expected: str) -> None:
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    (tmp_path / file).write_text(program(language))
    name = names.container()
    url = run(engine, image, name, env={"PROVIDER_SIM_CLOCK": "manual", "PROVIDER_SIM_CONTROL_TOKEN": TOKEN})
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SIM_URL": url, "SIM_TOKEN": TOKEN,
           "HOOK_HOST": engine.host_alias}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"SMS [0-9a-f-]{36} delivered", lines[0]), result.stdout
    assert lines[1] == expected, result.stdout
