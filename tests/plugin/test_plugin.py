"""The pytest plugin as a user meets it: a fresh project with no conftest, run with pytester."""
from __future__ import annotations

import statistics
import time

import pytest

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient

USER_TEST = '''
import hashlib, hmac, base64
import httpx2 as httpx

def send_sms(base_url, key, workspace, channel, to, text):
    """The user's own code: nothing simulator-specific."""
    r = httpx.post(f"{base_url}/workspaces/{workspace}/channels/{channel}/messages",
                   json={"receiver": {"contacts": [{"identifierValue": to}]},
                         "body": {"type": "text", "text": {"text": text}}},
                   headers={"Authorization": f"AccessKey {key}"})
    r.raise_for_status()
    return r.json()["id"]

def verify(request, key, url):
    ts = request.header("messagebird-request-timestamp")
    digest = hashlib.sha256(request.body).digest()
    payload = ts.encode() + b"\\n" + url.encode() + b"\\n" + digest
    expected = base64.b64encode(hmac.new(key.encode(), payload, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, request.header("messagebird-signature"))

def test_sms_is_delivered_and_the_signed_webhook_arrives(provider_sim, provider_sim_receiver):
    info = provider_sim.info()["bird"]
    ws = info["workspaces"][0]["id"]
    r = provider_sim.http.post(
        f"/organizations/{info['organizationId']}/workspaces/{ws}/webhook-subscriptions",
        json={"service": "channels", "event": "sms.outbound", "url": provider_sim_receiver.url + "/hook",
              "signingKey": "my-signing-key"}, headers=provider_sim.bird_headers)
    assert r.status_code in (200, 201), r.text
    message_id = send_sms(provider_sim.url, provider_sim.bird_key, ws, provider_sim.channel_id(), "+15551230000", "hi")
    provider_sim.advance(10)
    [delivered] = provider_sim_receiver.wait_for_webhook("sms.outbound", {"payload.id": message_id,
                                                                          "payload.status": "delivered"})
    assert verify(delivered, "my-signing-key", provider_sim_receiver.url + "/hook")
    assert provider_sim.get_message(message_id)["status"] == "delivered"
'''


SEED_TEST = '''
import pytest
ids = []

@pytest.fixture
def provider_sim_seed():
    return 42

@pytest.mark.parametrize("n", [1, 2])
def test_same_id(provider_sim, n):
    ids.append(provider_sim.send_sms("+15551230000")["id"])
    assert len(set(ids)) == 1
'''

MARKER_TEST = '''
import pytest

@pytest.mark.provider_sim(config="fixtures/two.yaml")
def test_config(provider_sim):
    assert len(provider_sim.info()["bird"]["workspaces"]) == 2

def test_default(provider_sim):
    assert len(provider_sim.info()["bird"]["workspaces"]) == 1

@pytest.mark.provider_sim(seed=5)
def test_seed(provider_sim):
    assert provider_sim.reset(seed=5)["seed"] == 5

@pytest.mark.provider_sim(scenario="otp-retry-second-number")
def test_scenario(provider_sim):
    otp2 = provider_sim.scenario.captured["otp2"]
    assert provider_sim.get_message(otp2["id"], provider_sim.channel_id(2))["status"] == "delivered"
'''

FAILING_TEST = '''
def test_waits(provider_sim, provider_sim_receiver):
    provider_sim_receiver.wait_for_webhook("sms.outbound", {"payload.status": "delivered"}, timeout=0.05)
'''


def test_fresh_project_without_conftest(pytester):
    """One subprocess run (no conftest, the plugin comes from the pytest11 entry point) covering: the signed
    delivered webhook in under a second, the seed fixture override, the marker (config, seed, scenario) and a
    readable failure listing what arrived."""
    from pathlib import Path

    fixtures = pytester.mkdir("fixtures")
    source = Path(__file__).resolve().parents[1] / "fixtures" / "two-tenants.yaml"
    (fixtures / "two.yaml").write_text(source.read_text())
    pytester.makepyfile(test_user=USER_TEST, test_seed=SEED_TEST, test_marker=MARKER_TEST, test_fail=FAILING_TEST)
    assert not (pytester.path / "conftest.py").exists()
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--durations=0", "--durations-min=0")
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*expected 1 webhook(s) event='sms.outbound'*", "*(none)*"])
    call = [line for line in result.outlines if " call " in line and "test_sms_is_delivered" in line]
    assert call, result.outlines
    assert float(call[0].split("s", 1)[0]) < 1.0, call


def test_provider_sim_url_points_fixtures_at_a_running_simulator(pytester):
    with SimulatorServer(Settings(db=":memory:", clock="manual", port=0)) as server:
        pytester.makepyfile(test_external=f'''
def test_uses_it(provider_sim, provider_sim_server):
    assert provider_sim.url == "{server.url}"
    provider_sim.send_sms("+15551230000")
''')
        pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", f"--provider-sim-url={server.url}"
                                      ).assert_outcomes(passed=1)
        with SimClient(server.url) as client:
            assert len(client.journal(operation="send_message")) == 1


XDIST_TEST = '''
import os
import pytest

@pytest.mark.parametrize("n", range(8))
def test_isolated(provider_sim, n):
    sent = provider_sim.send_sms("+15551230000", f"test {n}")
    provider_sim.advance(10)
    listing = provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers).json()
    assert [m["id"] for m in listing["results"]] == [sent["id"]]  # nothing from tests running alongside
    with open(os.environ["SEEN_FILE"], "a") as seen:
        seen.write(f"{os.environ.get('PYTEST_XDIST_WORKER', '-')} {provider_sim.url}\\n")
'''


def test_parallel_workers_each_get_their_own_simulator(pytester, tmp_path, monkeypatch):
    """pytest-xdist: the session-scoped server is per worker process, so parallel tests never see each other's
    messages (the isolation users of shared mock servers keep asking for)."""
    pytest.importorskip("xdist")
    seen = tmp_path / "seen.txt"
    pytester.makepyfile(test_parallel=XDIST_TEST)
    monkeypatch.setenv("SEEN_FILE", str(seen))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=8)
    lines = seen.read_text().splitlines()
    workers = {line.split()[0]: line.split()[1] for line in lines}
    assert len(lines) == 8 and len(workers) == 2, lines
    assert len(set(workers.values())) == 2  # two workers, two simulators


def test_plugin_can_be_disabled(pytester):
    pytester.makepyfile(test_off="def test_x(provider_sim):\n    pass\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:provider_simulator", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'provider_sim' not found*"])


def test_reset_is_fast(provider_sim):
    samples = []
    for _ in range(30):
        provider_sim.send_sms("+15551230000")
        started = time.perf_counter()
        provider_sim.reset()
        samples.append((time.perf_counter() - started) * 1000)
    median = statistics.median(samples)
    print(f"reset median {median:.2f} ms, p90 {sorted(samples)[26]:.2f} ms")
    assert median < 25  # target < 5 ms; generous for a shared CI core


def test_simulator_context_manager_without_pytest():
    from simulator import Simulator

    with Simulator(seed=3) as sim:
        message = sim.send_sms("+15551230000", "hi")
        sim.advance(10)
        assert sim.get_message(message["id"])["status"] == "delivered"
        receiver = sim.receiver()
        assert receiver.url.startswith("http://127.0.0.1:")
        assert sim.journal(operation="send_message")[0]["response"]["status"] == 202
    assert sim.server is None


def test_simulator_can_bind_to_a_url(provider_sim_server):
    from simulator import Simulator

    with Simulator(url=provider_sim_server.url) as sim:
        assert sim.health()["status"] == "ok"


@pytest.mark.parametrize("kwargs", [{"colour": "red"}])
def test_marker_rejects_unknown_keywords(pytester, kwargs):
    pytester.makepyfile(test_bad='''
import pytest
@pytest.mark.provider_sim(colour="red")
def test_x(provider_sim):
    pass
''')
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*provider_sim marker takes only keyword arguments*"])


def test_client_wrappers_for_customers_and_inbound(provider_sim, provider_sim_receiver):
    provider_sim.set_business_webhook(provider_sim_receiver.url)
    provider_sim.customer_says("Hello there")
    provider_sim.advance(1)
    [text] = provider_sim_receiver.wait_for_webhook(match={"type": "text", "body": "Hello there"})
    assert text.header("authorization").startswith("Bearer ")
    assert any(m.get("body") == "Hello there" for m in provider_sim.device())
    provider_sim.bird_inbound("+15559990000", "STOP please")
    inbound = provider_sim.wait_for_message({"direction": "incoming"}, timeout=2)
    assert inbound["body"]["text"]["text"] == "STOP please"
    assert provider_sim.journal(kind="control", path="/_sim/bird/inbound")
