"""What real integrations meet: duplicates, reordering, late DLRs — and no delivery lost across a restart."""
from __future__ import annotations

from collections import defaultdict

import pytest

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient, WebhookReceiver
from tests.bird.conftest import bird_verify, subscribe

LIFECYCLE = ["accepted", "processing", "sent", "delivered"]


@pytest.fixture
def knobs(provider_sim):
    before = provider_sim.http.get("/_sim/webhooks").json()

    def put(**values):
        response = provider_sim.http.put("/_sim/webhooks", json=values)
        assert response.status_code == 200, response.text
        return response.json()

    yield put
    put(**{k: before[k] for k in ("duplicateProbability", "reorder", "reorderWindowSeconds", "delaySeconds",
                                       "dlrDelaySeconds")})


def test_knobs_endpoint_validates(provider_sim, knobs):
    current = provider_sim.http.get("/_sim/webhooks").json()
    assert current["retryScheduleSeconds"] == [30, 120, 600, 1800, 3600, 7200, 14400]
    for bad in ({"duplicateProbability": 2}, {"reorder": "yes"}, {"color": 1}, {"dlrDelaySeconds": -1}):
        assert provider_sim.http.put("/_sim/webhooks", json=bad).status_code == 400, bad
    assert knobs(delaySeconds=2.5)["delaySeconds"] == 2.5


def test_duplicates_repeat_the_same_signed_request(provider_sim, receiver, knobs):
    knobs(duplicateProbability=1.0)
    subscribe(provider_sim, receiver.url)
    provider_sim.send_sms("+15551230000")
    provider_sim.advance(10)
    got = receiver.wait_for(8)
    by_request = defaultdict(list)
    for r in got:
        by_request[r.header("messagebird-request-id")].append(r)
    assert len(by_request) == 4 and all(len(copies) == 2 for copies in by_request.values())
    for copies in by_request.values():
        assert copies[0].body == copies[1].body
        assert copies[0].header("messagebird-signature") == copies[1].header("messagebird-signature")
        assert bird_verify("test-signing-key", copies[1].header("messagebird-request-timestamp"), receiver.url,
                           copies[1].body, copies[1].header("messagebird-signature"))


def test_reorder_delivers_everything_but_not_in_order(provider_sim, receiver, knobs):
    knobs(reorder=True)
    subscribe(provider_sim, receiver.url)
    ids = [provider_sim.send_sms(f"+1555123{i:04d}0")["id"] for i in range(5)]
    provider_sim.advance(120)
    got = receiver.wait_for(20)
    seen = defaultdict(list)
    for r in got:
        payload = r.json()["payload"]
        seen[payload["id"]].append(payload["status"])
    assert set(seen) == set(ids)
    assert all(sorted(s, key=LIFECYCLE.index) == LIFECYCLE for s in seen.values())
    assert any(s != LIFECYCLE for s in seen.values()), seen


def test_in_order_without_the_knob(provider_sim, receiver):
    subscribe(provider_sim, receiver.url)
    ids = [provider_sim.send_sms(f"+1555123{i:04d}0")["id"] for i in range(5)]
    provider_sim.advance(120)
    got = receiver.wait_for(20)
    seen = defaultdict(list)
    for r in got:
        seen[r.json()["payload"]["id"]].append(r.json()["payload"]["status"])
    assert all(seen[i] == LIFECYCLE for i in ids)


def test_extra_delay_holds_every_delivery(provider_sim, receiver, knobs):
    knobs(delaySeconds=60)
    subscribe(provider_sim, receiver.url, filters=[{"key": "messageStatus", "value": "accepted"}])
    provider_sim.send_sms("+15551230000")
    provider_sim.advance(59)
    assert receiver.requests == []
    provider_sim.advance(1)
    receiver.wait_for(1)


def test_delayed_dlrs(provider_sim, receiver, knobs):
    knobs(dlrDelaySeconds=3600)
    subscribe(provider_sim, receiver.url)
    msg = provider_sim.send_sms("+15551230000")
    provider_sim.advance(10)
    receiver.wait_for(3)
    assert provider_sim.get_message(msg["id"])["status"] == "delivered"  # the API already knows
    assert [r.json()["payload"]["status"] for r in receiver.requests] == LIFECYCLE[:3]
    provider_sim.advance(3600)
    late = receiver.wait_for(4)[3]
    assert late.json()["payload"]["status"] == "delivered"
    # Signed when the event happened, not when it was finally sent.
    assert int(late.header("messagebird-request-timestamp")) < provider_sim.clock()["nowMs"] // 1000 - 3500


def test_no_delivery_lost_across_a_restart(db):
    settings = Settings(db=db(), clock="manual", port=0, start_time="2025-05-20T10:00:00Z")
    with WebhookReceiver() as hook:
        hook.set_responses([500] * 1000)
        with SimulatorServer(settings) as server, SimClient(server.url) as sim:
            subscribe(sim, hook.url + "/bird")
            msg = sim.send_sms("+15551230000", "survive")
            sim.advance(2)  # accepted, processing, sent attempted (500); delivered still to come
            hook.wait_for(3)
            stats = server.call(server.sim.outbox.stats())
            assert stats["pending"] == 3 and stats["delivered"] == 0
        first_attempts = {r.json()["payload"]["status"]: r for r in hook.requests}
        hook.set_responses([])
        hook.clear()
        with SimulatorServer(settings.replace(port=0)) as server, SimClient(server.url) as sim:
            assert sim.clock()["now"] == "2025-05-20T10:00:02.000Z"
            sim.advance(40)
            got = hook.wait_for(4)
            statuses = sorted((r.json()["payload"]["status"] for r in got), key=LIFECYCLE.index)
            assert statuses == LIFECYCLE
            for r in got:
                status = r.json()["payload"]["status"]
                assert r.json()["payload"]["id"] == msg["id"]
                if status in first_attempts:  # a retry: same request, same timestamp, same signature
                    before = first_attempts[status]
                    assert r.header("messagebird-request-id") == before.header("messagebird-request-id")
                    assert r.header("messagebird-request-timestamp") == before.header("messagebird-request-timestamp")
                assert bird_verify("test-signing-key", r.header("messagebird-request-timestamp"), hook.url + "/bird",
                                   r.body, r.header("messagebird-signature"))
            assert server.call(server.sim.outbox.stats())["pending"] == 0
