"""The CLI: `provider-sim serve` and `python -m simulator`, flags over environment, banner with credentials."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx2 as httpx


def start(args, env_extra=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVIDER_SIM_")}
    env.update(env_extra or {})
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    banner = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        banner.append(line)
        if "/_sim/info" in line:
            break
    return proc, "".join(banner)


def stop(proc):
    proc.terminate()
    proc.communicate(timeout=20)  # waits, and closes the pipes (else a ResourceWarning)


def test_version():
    out = subprocess.run([sys.executable, "-m", "simulator", "--version"], capture_output=True, text=True, check=True)
    assert "provider-sim" in out.stdout


def test_serve_banner_env_and_flag_precedence(tmp_path):
    proc, banner = start(["--port", "0", "--db", ":memory:"], {"PROVIDER_SIM_PORT": "1", "PROVIDER_SIM_CLOCK": "manual"},
                         cwd=tmp_path)
    try:
        url = re.search(r"listening on (http://\S+)", banner).group(1)
        assert not url.endswith(":1")  # the flag (--port 0) won over the environment
        assert "AccessKey sim-bird-access-key-0001" in banner
        assert "5b4b2a1e-0000-4000-8000-00000000a001" in banner
        assert "clock: manual" in banner  # env applies where no flag is given
        with httpx.Client(base_url=url) as client:
            assert client.get("/_sim/health").json()["clock"]["mode"] == "manual"
        assert not (tmp_path / ".provider-sim").exists()  # :memory: writes no db file
    finally:
        stop(proc)


def test_port_in_use_is_a_clear_error():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "simulator", "serve", "--port", str(port), "--db", ":memory:"],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "cannot listen" in result.stderr


def _first_message_id(url: str) -> str:
    with httpx.Client(base_url=url, timeout=10) as client:
        bird = client.get("/_sim/info").json()["bird"]
        workspace = bird["workspaces"][0]
        sent = client.post(f"/workspaces/{workspace['id']}/channels/{workspace['channels'][0]['id']}/messages",
                           json={"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
                                 "body": {"type": "text", "text": {"text": "hi"}}},
                           headers={"Authorization": "AccessKey " + bird["accessKeys"][0]["key"]})
        assert sent.status_code == 202, sent.text
        return str(sent.json()["id"])


def _serve_once(args: list[str], tmp_path) -> tuple[str, int, int]:
    """(first message id, the seed the banner printed, the seed /_sim/info gives) of a fresh server."""
    proc, banner = start(["--port", "0", "--db", ":memory:", "--clock", "manual", *args], cwd=tmp_path)
    try:
        url = re.search(r"listening on (http://\S+)", banner).group(1)
        printed = int(re.search(r"seed: (\d+); --seed (\d+) replays it", banner).group(1))
        with httpx.Client(base_url=url) as client:
            info_seed = client.get("/_sim/info").json()["seed"]
        return _first_message_id(url), printed, info_seed
    finally:
        stop(proc)


def test_unseeded_servers_draw_their_seed_and_say_it(tmp_path):
    """Two `serve` on fresh databases never share an id; each prints its seed, and --seed N gives the same ids."""
    first, second = _serve_once([], tmp_path), _serve_once([], tmp_path)
    assert first[0] != second[0]
    assert first[1] == first[2] and second[1] == second[2] and first[1] != second[1]
    replayed = _serve_once(["--seed", str(first[1])], tmp_path)
    assert replayed == first
    assert _serve_once(["--seed", "0"], tmp_path)[1:] == (0, 0)  # asked for 0: 0, as in-process simulators
