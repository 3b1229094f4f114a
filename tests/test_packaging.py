"""A real (non-editable) wheel install into a fresh venv works outside the source tree."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import httpx2 as httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def wait_for_url(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
            continue
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return match.group(1)
    raise AssertionError("no 'listening on' line")


@pytest.mark.slow
def test_wheel_install_serves_default_world(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, timeout=300)
    wheel = next(dist.glob("provider_simulator-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        assert "simulator/py.typed" in archive.namelist()  # PEP 561: type checkers read the package's hints
        assert {"simulator/bird/behaviours.yaml", "simulator/business_chat/behaviours.yaml"} <= set(archive.namelist())
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=600)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    # The installed package carries its own schemas and fixtures.
    probe = subprocess.run([str(py), "-c", "import simulator, simulator.resources as r; "
                            "print(simulator.__file__); print(r.schemas_root()); print(r.fixtures_root())"],
                           cwd=workdir, capture_output=True, text=True, check=True)
    lines = probe.stdout.split()
    assert str(ROOT) not in probe.stdout, probe.stdout
    assert lines[1].endswith("simulator/_schemas") and lines[2].endswith("simulator/_fixtures")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVIDER_SIM_")}
    started = time.monotonic()
    proc = subprocess.Popen([str(env_dir / "bin" / "provider-sim"), "serve", "--port", "0"], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = wait_for_url(proc)
        with httpx.Client(base_url=url, timeout=10) as client:
            while client.get("/_sim/health").status_code != 200:
                time.sleep(0.01)
            first_200_s = time.monotonic() - started
            info = client.get("/_sim/info").json()
            ws = info["bird"]["workspaces"][0]
            key = info["bird"]["accessKeys"][0]["key"]
            r = client.post(f"/workspaces/{ws['id']}/channels/{ws['channels'][0]['id']}/messages",
                            headers={"Authorization": f"AccessKey {key}"},
                            json={"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
                                  "body": {"type": "text", "text": {"text": "from the wheel"}}})
            assert r.status_code == 202, r.text
            bad = client.post(f"/workspaces/{ws['id']}/channels/{ws['channels'][0]['id']}/messages",
                              headers={"Authorization": f"AccessKey {key}"}, json={"receiver": {}})
            assert bad.status_code == 422  # schemas were loaded from the wheel
            coverage = client.get("/_sim/coverage").json()  # the catalogues were loaded from the wheel
            assert coverage["total"] > 0 and all(p["total"] for p in coverage["providers"])
        # the default db lives under ./.provider-sim/ of the working directory
        assert (workdir / ".provider-sim" / "simulator.db").exists()
        print(f"wheel install: first 200 after {first_200_s:.2f} s")
    finally:
        proc.terminate()
        proc.communicate(timeout=20)  # waits, and closes the pipes (else a ResourceWarning)
