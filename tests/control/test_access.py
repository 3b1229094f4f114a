"""The control token (PROVIDER_SIM_CONTROL_TOKEN): /_sim/* and the web UI need it, /_sim/health and the provider
APIs do not, and the token shows up in no log, journal or banner."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time

import httpx2 as httpx
import pytest

from simulator.replay.runner import main_run
from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient, Simulator

TOKEN = "ctl-7yH2pQ9wQX7Z"  # its tail is what a masked header would show: searched for below
BEARER = {"Authorization": f"Bearer {TOKEN}"}
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture(scope="module")
def guarded():
    with SimulatorServer(Settings(db=":memory:", clock="manual", port=0, log_level="warning",
                                  control_token=TOKEN)) as server:
        yield server


@pytest.fixture
def http(guarded):
    with httpx.Client(base_url=guarded.url) as client:
        yield client


@pytest.mark.parametrize("method, path", [
    ("GET", "/_sim/info"), ("POST", "/_sim/reset"), ("POST", "/_sim/clock/advance"), ("GET", "/_sim/journal"),
    ("DELETE", "/_sim/faults"), ("GET", "/_sim/ui/"), ("GET", "/_sim/ui/app.js"), ("GET", "/_sim/events"),
    ("GET", "/_sim/openapi.json"), ("GET", "/_sim"), ("GET", "/_sim/no-such-route"),
])
def test_control_plane_without_the_token_is_401_in_the_control_shape(http, method, path):
    response = http.request(method, path, json={"seconds": 1} if method == "POST" else None)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "Unauthorized"
    assert set(response.json()["error"]) == {"code", "message"}
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer wrong-token", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN,
                                    f"AccessKey {TOKEN}"])
def test_a_wrong_or_misplaced_token_is_refused(http, header):
    assert http.get("/_sim/info", headers={"Authorization": header}).status_code == 401


def test_a_token_beyond_ascii_works_in_the_header_and_the_form():
    token = "clé-Ωmega-7"
    settings = Settings(db=":memory:", clock="manual", port=0, log_level="warning", control_token=token)
    with SimulatorServer(settings) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/_sim/info", headers={"Authorization": b"Bearer " + token.encode()}).status_code == 200
        assert http.get("/_sim/info", headers={"Authorization": b"Bearer cl\xe9-\xcemega-7"}).status_code == 401
        assert http.post("/_sim/login", data={"token": token}).status_code == 303
        assert http.get("/_sim/info").status_code == 200


def test_a_refused_reset_changes_nothing(http):
    clock = http.get("/_sim/clock", headers=BEARER).json()
    assert http.post("/_sim/clock/advance", json={"seconds": 3600}).status_code == 401
    assert http.get("/_sim/clock", headers=BEARER).json()["now"] == clock["now"]


def test_the_token_opens_the_control_plane_and_health_stays_open(http):
    assert http.get("/_sim/health").status_code == 200  # what health checks and wait strategies poll
    info = http.get("/_sim/info", headers=BEARER)
    assert info.status_code == 200 and info.json()["bird"]["accessKeys"]
    assert http.get("/_sim/info", headers={"Authorization": f"bearer  {TOKEN}"}).status_code == 200


def test_provider_apis_keep_their_own_auth(guarded, http):
    client = SimClient(guarded.url, token=TOKEN)
    try:
        path = client.messages_path()
        key = client.bird_headers
    finally:
        client.close()
    body = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
            "body": {"type": "text", "text": {"text": "hi"}}}
    assert http.post(path, json=body, headers=key).status_code == 202  # no control token needed
    missing = http.post(path, json=body)
    assert missing.status_code == 401 and "error" not in missing.json()  # Bird's own shape, not the control one
    assert http.post(path, json=body, headers=BEARER).status_code == 401  # the control token is no Bird key


def test_a_browser_signs_in_through_the_login_form(http):
    page = http.get("/_sim/ui/?tab=journal", headers=HTML)
    assert page.status_code == 401 and "<form" in page.text
    assert 'name="next" value="/_sim/ui/?tab=journal"' in page.text
    wrong = http.post("/_sim/login", data={"token": "guess", "next": "/_sim/ui/"})
    assert wrong.status_code == 401 and "not the control token" in wrong.text and "set-cookie" not in wrong.headers
    assert http.get("/_sim/info").status_code == 401  # a failed login set nothing

    ok = http.post("/_sim/login", data={"token": TOKEN, "next": "/_sim/ui/?tab=journal"})
    assert ok.status_code == 303 and ok.headers["location"] == "/_sim/ui/?tab=journal"
    cookie = ok.headers["set-cookie"]
    assert TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/_sim" in cookie
    assert http.get("/_sim/ui/", headers=HTML).status_code == 200  # the client keeps the cookie, as a browser does
    assert http.get("/_sim/info").status_code == 200
    assert http.post("/_sim/clock/advance", json={"seconds": 1}).status_code == 200


def test_a_forged_cookie_is_refused(http):
    http.cookies.set("provider_sim_control", TOKEN)  # the token itself is not the cookie's value
    assert http.get("/_sim/info").status_code == 401
    http.cookies.set("provider_sim_control_1", "0" * 64)
    assert http.get("/_sim/info").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/workspaces", "/_sim/login",
                                    "/_sim\\..\\x", ""])
def test_login_redirects_only_into_the_control_plane(http, target):
    response = http.post("/_sim/login", data={"token": TOKEN, "next": target})
    assert response.status_code == 303 and response.headers["location"] == "/_sim/ui/"


def test_login_refuses_an_oversized_body(http):
    response = http.post("/_sim/login", content=b"token=" + b"a" * 20000,
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "PayloadTooLarge"


def test_the_token_never_reaches_the_journal():
    # A server of its own: another test here sends the token to Bird, where it is a (wrong) credential like any
    # other and the journal shows its last four characters, as it does for access keys.
    settings = Settings(db=":memory:", clock="manual", port=0, log_level="warning", control_token=TOKEN)
    with SimulatorServer(settings) as server, httpx.Client(base_url=server.url) as http, \
            SimClient(server.url, token=TOKEN) as client:
        assert http.post("/_sim/login", data={"token": TOKEN}).status_code == 303
        assert http.post("/_sim/clock/advance", json={"seconds": 1}).status_code == 200  # journaled, with the cookie
        client.advance(1)  # journaled, with the bearer header
        client.send_sms("+15551230000", "hi")
        entries = client.journal()
    assert any(e.get("path") == "/_sim/clock/advance" for e in entries)
    headers_seen = json.dumps([e.get("headers") for e in entries])
    assert TOKEN not in headers_seen and TOKEN[-4:] not in headers_seen
    assert not any(e.get("path") == "/_sim/login" for e in entries)  # the login form is never journaled


def test_sim_client_sends_the_token_on_control_calls_only(guarded):
    with SimClient(guarded.url, token=TOKEN) as client:
        client.reset(seed=3)
        assert client.info()["seed"] == 3
        assert client.http.get(client.messages_path()).status_code == 401  # no Bird key: Bird answers
    with SimClient(guarded.url) as anonymous, pytest.raises(AssertionError, match="401"):
        anonymous.info()


def test_simulator_takes_its_token_from_its_settings():
    settings = Settings(db=":memory:", clock="manual", port=0, log_level="warning", control_token=TOKEN)
    with Simulator(settings) as sim:
        message = sim.send_sms("+15551230000")
        sim.advance(10)
        assert sim.get_message(message["id"])["status"] == "delivered"
        assert httpx.get(sim.url + "/_sim/info").status_code == 401


def test_replay_against_a_guarded_simulator_needs_the_token(guarded):
    out = io.StringIO()
    assert main_run("otp-retry-second-number", against=guarded.url, seed=None, out=out, token=TOKEN) == 0, \
        out.getvalue()
    refused = io.StringIO()
    with pytest.raises(AssertionError, match="401"):
        main_run("otp-retry-second-number", against=guarded.url, seed=None, out=refused)


def test_plugin_passes_the_token_to_a_running_simulator(guarded, pytester):
    pytester.makepyfile(test_external='''
def test_uses_it(provider_sim):
    provider_sim.reset(seed=5)
    assert provider_sim.info()["seed"] == 5
''')
    args = ("-q", "-p", "no:cacheprovider", f"--provider-sim-url={guarded.url}")
    pytester.runpytest_subprocess(*args, f"--provider-sim-token={TOKEN}").assert_outcomes(passed=1)
    pytester.runpytest_subprocess(*args).assert_outcomes(errors=1)  # without it the fixture's reset is refused


def test_plugin_in_process_simulator_with_a_token(pytester):
    pytester.makeconftest(f'''
import pytest
from simulator.settings import Settings

@pytest.fixture(scope="session")
def provider_sim_settings():
    return Settings(db=":memory:", clock="manual", port=0, log_level="warning", control_token="{TOKEN}")
''')
    pytester.makepyfile(test_guarded='''
import httpx2 as httpx

def test_guarded(provider_sim):
    assert httpx.get(provider_sim.url + "/_sim/info").status_code == 401
    assert provider_sim.info()["bird"]["accessKeys"]
''')
    pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider").assert_outcomes(passed=1)


# -- the CLI ---------------------------------------------------------------------------------------------------------

def _serve(args: list[str], env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVIDER_SIM_")}
    env.update(env_extra or {})
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "serve", "--port", "0", "--db", ":memory:", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    banner = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        banner.append(line)
        if line.startswith("  Control"):
            break
    return proc, "".join(banner)


def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.terminate()
    out, err = proc.communicate(timeout=20)
    return out, err


def test_serve_with_a_token_logs_it_nowhere():
    # debug: the most talkative level, access log included
    proc, banner = _serve(["--log-level", "debug", "--control-token", TOKEN])
    try:
        url = re.search(r"listening on (http://\S+)", banner).group(1)  # type: ignore[union-attr]
        assert "control token required" in banner
        with httpx.Client(base_url=url) as client:
            assert client.get("/_sim/info").status_code == 401
            assert client.get("/_sim/info", headers=BEARER).status_code == 200
            assert client.post("/_sim/login", data={"token": TOKEN}).status_code == 303
            assert client.post("/_sim/login", data={"token": TOKEN + "-typo"}).status_code == 401
            assert client.post("/_sim/reset", json={}).status_code == 200
    finally:
        out, err = _finish(proc)
    everything = banner + out + err
    assert "GET /_sim/info" in everything  # the access log did run
    assert TOKEN not in everything and TOKEN[-4:] not in everything


def test_serve_warns_when_reachable_from_others_without_a_token():
    proc, _ = _serve(["--host", "0.0.0.0"])
    _, err = _finish(proc)
    warning = [line for line in err.splitlines() if "without a control token" in line]
    assert len(warning) == 1 and "PROVIDER_SIM_CONTROL_TOKEN" in warning[0]

    for args, env in ((["--host", "0.0.0.0"], {"PROVIDER_SIM_CONTROL_TOKEN": TOKEN}), (["--host", "127.0.0.1"], {})):
        proc, _ = _serve(args, env)
        _, err = _finish(proc)
        assert "without a control token" not in err


def test_health_subcommand():
    proc, banner = _serve([], {"PROVIDER_SIM_CONTROL_TOKEN": TOKEN})  # health needs no token
    try:
        url = re.search(r"listening on (http://\S+)", banner).group(1)  # type: ignore[union-attr]
        port = url.rsplit(":", 1)[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVIDER_SIM_")}
        ok = subprocess.run([sys.executable, "-m", "simulator", "health"], capture_output=True, text=True, check=False,
                            env={**env, "PROVIDER_SIM_PORT": port, "HTTP_PROXY": "http://127.0.0.1:9"})
        assert ok.returncode == 0, ok.stderr
        assert subprocess.run([sys.executable, "-m", "simulator", "health", "--url", url],
                              capture_output=True, check=False).returncode == 0
    finally:
        _finish(proc)
    down = subprocess.run([sys.executable, "-m", "simulator", "health", "--url", url], capture_output=True, text=True,
                          check=False)
    assert down.returncode == 1 and "provider-sim health" in down.stderr
