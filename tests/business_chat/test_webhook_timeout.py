"""Apple waits up to 30 s for the MSP's answer to a webhook, while Bird's deliveries keep the simulator's shared
webhook timeout; the 30 s is a world config key."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bc_msp import MSP, customer_path

from simulator.business_chat.config import load_config
from simulator.testing import WebhookReceiver

CONTROL = "/_sim/business-chat"
SHARED_TIMEOUT = 0.25  # Settings.webhook_timeout of the dedicated simulator below (Bird's)
HOLD = 1.0             # how long the receiver holds each request: > SHARED_TIMEOUT, far below 30 s


@pytest.fixture(scope="module")
def short_timeout_server(provider_sim_server: Any) -> Iterator[Any]:
    if getattr(provider_sim_server, "settings", None) is None:
        pytest.skip("needs an in-process simulator")
    from simulator.server import SimulatorServer

    server = SimulatorServer(provider_sim_server.settings.replace(port=0, webhook_timeout=SHARED_TIMEOUT)).start()
    try:
        yield server
    finally:
        server.stop()


def test_business_chat_webhook_waits_30s_while_bird_keeps_the_shared_timeout(short_timeout_server: Any) -> None:
    from simulator.testing import SimClient

    sim = SimClient(short_timeout_server.url)
    sim.reset()
    receiver = WebhookReceiver().start()
    receiver.hold(max_seconds=HOLD)  # a slow MSP: each webhook answered HOLD s after it arrived
    try:
        msp = MSP(sim)
        sim.http.post(f"{CONTROL}/businesses/{msp.business}", json={"webhookUrl": receiver.url})
        r = sim.http.post(customer_path(msp) + "/text", json={"text": "slow MSP", "typing": False})
        assert r.status_code == 200, r.text
        # Bird: a subscription on the same slow receiver.
        sub = {"service": "channels", "event": "sms.outbound", "url": receiver.url + "/bird",
               "signingKey": "k"}
        r = sim.http.post(f"/workspaces/{sim.workspace_id}/webhook-subscriptions", json=sub,
                          headers=sim.bird_headers)
        assert r.status_code == 201, r.text
        sim.send_sms("+31612345678")
        sim.advance(1)  # returns after every due delivery attempt finished
        bc = sim.http.get("/_sim/outbox", params={"provider": "business_chat"}).json()["results"]
        attempt = bc[0]["attempts"][0]
        assert (attempt["statusCode"], attempt["error"]) == (200, ""), attempt
        assert attempt["durationMs"] >= HOLD * 1000 * 0.9
        answered = [r for r in receiver.wait_for_answers(len(receiver.requests)) if r.path == "/message"]
        assert answered and answered[0].answered is True
        assert answered[0].answered_at - answered[0].received_at >= HOLD * 0.9  # type: ignore[operator]
        bird = sim.http.get("/_sim/outbox", params={"provider": "bird"}).json()["results"]
        assert bird and bird[-1]["attempts"][0]["error"] == "timeout", bird[-1]["attempts"]
        assert bird[-1]["attempts"][0]["durationMs"] < HOLD * 1000
        assert sim.http.get(CONTROL).json()["settings"]["webhookTimeoutSeconds"] == 30
    finally:
        receiver.stop()
        sim.close()


def test_webhook_timeout_is_a_world_config_key() -> None:
    base = {"msp_id": "m", "secret": "c2VjcmV0", "businesses": [{"id": "b"}]}
    assert load_config(base).webhook_timeout_s == 30
    assert load_config({**base, "webhook_timeout_seconds": 12.5}).webhook_timeout_s == 12.5
