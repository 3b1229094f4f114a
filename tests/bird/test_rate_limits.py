"""Bird's per-workspace rate limits: off by default, 429 in Bird's shape with Retry-After once a second's budget is
spent (nothing stored), refilled when the simulator clock moves on, per workspace, from the config or at runtime."""
from __future__ import annotations

from pathlib import Path

import yaml

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient

TWO_TENANTS = Path(__file__).resolve().parents[1] / "fixtures" / "two-tenants.yaml"
WS_B = "5b4b2a1e-0000-4000-8000-00000000a002"
CH_B = "7c0f4a8e-0000-4000-8000-00000000c201"


def _send(sim, workspace=None, channel=None):
    path = (f"/workspaces/{workspace}/channels/{channel}/messages" if workspace else sim.messages_path())
    return sim.http.post(path, headers=sim.bird_headers, json={
        "receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
        "body": {"type": "text", "text": {"text": "hi"}}})


def test_off_by_default(provider_sim):
    state = provider_sim.http.get("/_sim/bird/rate-limits").json()
    assert state["enabled"] is False and state["documented"] == {"getPerSecond": 50, "postPerSecond": 500}
    assert all(_send(provider_sim).status_code == 202 for _ in range(60))  # one simulated second, no 429


def test_budget_per_second_then_429_and_refill(provider_sim):
    r = provider_sim.http.put("/_sim/bird/rate-limits", json={"getPerSecond": 3, "postPerSecond": 2})
    assert r.status_code == 200 and r.json()["postPerSecond"] == 2
    assert [_send(provider_sim).status_code for _ in range(2)] == [202, 202]
    refused = _send(provider_sim)
    assert refused.status_code == 429
    assert refused.json() == {"code": "TooManyRequests", "message": refused.json()["message"]}
    assert "2 POST requests per second" in refused.json()["message"]
    assert refused.headers["retry-after"] == "1"
    listing = provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers)
    assert listing.status_code == 200 and len(listing.json()["results"]) == 2  # the refused send stored nothing
    assert [provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers).status_code
            for _ in range(3)] == [200, 200, 429]  # reads have their own budget (the listing above used one)
    provider_sim.advance(1)
    assert _send(provider_sim).status_code == 202  # a new second of the simulator clock
    assert provider_sim.http.get("/_sim/bird/rate-limits").json()["rejected"] == 2
    provider_sim.bird_rate_limits(enabled=False)
    assert all(_send(provider_sim).status_code == 202 for _ in range(5))
    assert provider_sim.bird_rate_limits(post_per_second=1)["getPerSecond"] == 50  # the helper; Bird's default
    assert [_send(provider_sim).status_code for _ in range(2)] == [202, 429]


def test_bad_settings_are_refused(provider_sim):
    for body in ({"postPerSecond": 0}, {"getPerSecond": 2.5}, {"enabled": "yes"}, {"burst": 3},
                 {"postPerSecond": "10"}):
        r = provider_sim.http.put("/_sim/bird/rate-limits", json=body)
        assert r.status_code == 400, (body, r.text)
    assert provider_sim.http.get("/_sim/bird/rate-limits").json()["enabled"] is False


def test_from_the_config_per_workspace_and_back_after_reset(tmp_path, db):
    world = yaml.safe_load(TWO_TENANTS.read_text())
    world["bird"]["rate_limits"] = {"post_per_second": 2}
    config = tmp_path / "limited.yaml"
    config.write_text(yaml.safe_dump(world))
    settings = Settings(db=db(), clock="manual", port=0, log_level="warning", config=str(config))
    with SimulatorServer(settings) as server, SimClient(server.url) as sim:
        state = sim.http.get("/_sim/bird/rate-limits").json()
        assert state["enabled"] and state["postPerSecond"] == 2 and state["getPerSecond"] == 50
        assert [_send(sim).status_code for _ in range(3)] == [202, 202, 429]
        assert [_send(sim, WS_B, CH_B).status_code for _ in range(3)] == [202, 202, 429]  # its own budget
        sim.http.put("/_sim/bird/rate-limits", json={"enabled": False})
        assert _send(sim).status_code == 202
        sim.reset()  # back to the world as configured
        assert sim.http.get("/_sim/bird/rate-limits").json()["postPerSecond"] == 2
        assert [_send(sim).status_code for _ in range(3)] == [202, 202, 429]
