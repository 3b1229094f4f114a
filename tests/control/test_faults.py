"""Fault and latency injection through real HTTP: statuses in each provider's shape, matching, N/probability."""
from __future__ import annotations

import time

import httpx2 as httpx
import pytest

SEND = {"body": {"type": "text", "text": {"text": "hi"}}}


def send(sim, to="+15551230000"):
    return sim.http.post(sim.messages_path(), json={"receiver": {"contacts": [{"identifierValue": to}]}, **SEND},
                         headers=sim.bird_headers)


def test_429_with_retry_after_in_birds_shape_for_the_next_match_only(provider_sim):
    rule = provider_sim.add_fault(provider="bird", operation="send_message", status=429, retryAfter=7, times=1)
    first = send(provider_sim)
    assert first.status_code == 429
    assert first.headers["retry-after"] == "7"
    assert first.headers["x-simulator-fault"] == rule["id"]
    assert set(first.json()) == {"code", "message"} and first.json()["code"] == "TooManyRequests"
    assert send(provider_sim).status_code == 202
    assert provider_sim.faults()["rules"] == []
    [entry] = provider_sim.journal(status=429)
    assert entry["fault"]["id"] == rule["id"] and entry["operation"] == "send_message"


@pytest.mark.parametrize("status, code", [(500, "InternalServerError"), (503, "ServiceUnavailable")])
def test_server_errors(provider_sim, status, code):
    provider_sim.add_fault(operation="send_message", status=status)
    response = send(provider_sim)
    assert response.status_code == status and response.json()["code"] == code
    assert send(provider_sim).status_code == status  # no "times": until deleted
    provider_sim.clear_faults()
    assert send(provider_sim).status_code == 202


def test_matches_on_receiver_number_only(provider_sim):
    provider_sim.add_fault(match={"receiver": "+15551230009"}, status=503)
    assert send(provider_sim, "+15551230009").status_code == 503
    assert send(provider_sim, "+15551230008").status_code == 202


def test_matches_on_operation_by_route_template_and_method(provider_sim):
    provider_sim.add_fault(operation="/workspaces/{workspace_id}/channels/{channel_id}/messages", method="GET",
                           status=500)
    assert provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers).status_code == 500
    assert send(provider_sim).status_code == 202


def test_business_chat_faults_use_its_error_shape(provider_sim):
    info = provider_sim.info()
    if not info.get("businessChat"):
        pytest.skip("no Business Chat in this world")
    customer = info["businessChat"]["customers"][0]["id"]
    provider_sim.add_fault(provider="business_chat", match={"customer": customer}, status=503)
    response = provider_sim.http.post("/v1/message", json={}, headers={"destination-id": customer})
    assert response.status_code == 503
    assert provider_sim.journal(provider="business_chat")[0]["fault"]["status"] == 503
    assert send(provider_sim).status_code == 202  # Bird is untouched


def test_probability_is_drawn_from_the_seeded_rng(provider_sim):
    def pattern():
        provider_sim.reset(seed=1234)
        provider_sim.add_fault(operation="list_channel_messages", status=503, probability=0.5)
        return [provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers).status_code
                for _ in range(24)]

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(503) < 24


def test_latency_is_added_before_answering(provider_sim):
    provider_sim.add_fault(operation="list_channel_messages", latencyMs={"min": 200, "max": 250}, times=1)
    started = time.monotonic()
    response = provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert 0.19 <= elapsed < 5
    [entry] = provider_sim.journal(operation="list_channel_messages")
    assert 200 <= entry["fault"]["latencyMs"] <= 250


def test_drop_closes_the_connection(provider_sim):
    provider_sim.add_fault(operation="send_message", drop=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        send(provider_sim)
    assert send(provider_sim).status_code == 202
    assert provider_sim.journal(operation="send_message")[0]["response"]["dropped"] is True


def test_webhook_knobs_in_the_same_api(provider_sim):
    knobs = provider_sim.webhook_faults(delay_seconds=30, duplicate_probability=0.25, reorder=True)
    # One vocabulary: the same knobs (and Bird's DLR delay, its extension) as /_sim/webhooks.
    assert knobs == {"delaySeconds": 30.0, "duplicateProbability": 0.25, "reorder": True,
                     "reorderWindowSeconds": 5.0, "dlrDelaySeconds": 0.0}
    assert provider_sim.faults()["webhooks"] == knobs
    assert provider_sim.http.put("/_sim/webhooks", json={"dlrDelaySeconds": 60, "reorderWindowSeconds": 2}
                                 ).status_code == 200
    provider_sim.clear_faults()  # restores every knob, the extension too
    assert provider_sim.faults()["webhooks"] == {"delaySeconds": 0.0, "duplicateProbability": 0.0, "reorder": False,
                                                 "reorderWindowSeconds": 5.0, "dlrDelaySeconds": 0.0}


def test_webhook_delay_postpones_delivery(provider_sim, provider_sim_receiver):
    org, ws = provider_sim.info()["bird"]["organizationId"], provider_sim.workspace_id
    created = provider_sim.http.post(f"/organizations/{org}/workspaces/{ws}/webhook-subscriptions", json={
        "service": "channels", "event": "sms.outbound", "url": provider_sim_receiver.url, "signingKey": "k" * 16},
        headers=provider_sim.bird_headers)
    if created.status_code == 404:
        pytest.skip("Bird webhook subscriptions are not available")
    assert created.status_code in (200, 201), created.text
    provider_sim.webhook_faults(delay_seconds=60)
    message = send(provider_sim).json()
    provider_sim.advance(10)
    assert provider_sim.get_message(message["id"])["status"] == "delivered"
    assert provider_sim_receiver.requests == []
    provider_sim.advance(60)
    provider_sim_receiver.wait_for_webhook("sms.outbound", {"payload.status": "delivered"})


def test_delete_one_rule(provider_sim):
    rule = provider_sim.add_fault(status=500, id="boom")
    assert rule["id"] == "boom"
    assert provider_sim.http.delete("/_sim/faults/boom").status_code == 200
    response = provider_sim.http.delete("/_sim/faults/boom")
    assert response.status_code == 404 and response.json()["error"]["code"] == "NotFound"


def test_full_reset_clears_faults(provider_sim):
    provider_sim.add_fault(status=500)
    provider_sim.reset()
    assert provider_sim.faults()["rules"] == []


@pytest.mark.parametrize("rule, field", [
    ({"status": 200}, "status"),
    ({"status": 500, "provider": "twilio"}, "provider"),
    ({"status": 500, "times": 0}, "times"),
    ({"status": 500, "probability": 2}, "probability"),
    ({"latencyMs": {"min": 5, "max": 1}}, "latencyMs"),
    ({"latencyMs": True}, "latencyMs"),
    ({"drop": "yes"}, "drop"),
    ({"match": {"planet": "mars"}, "status": 500}, "match.planet"),
    ({"operation": "send_message"}, "status"),
    ({"status": 500, "colour": "red"}, "colour"),
])
def test_invalid_rules_are_400_naming_the_field(provider_sim, rule, field):
    response = provider_sim.http.post("/_sim/faults", json=rule)
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_several_rules_are_all_or_nothing(provider_sim):
    response = provider_sim.http.post("/_sim/faults", json={"rules": [{"status": 500}, {"status": 99}]})
    assert response.status_code == 400 and "rules[1]" in response.json()["error"]["message"]
    assert provider_sim.faults()["rules"] == []
