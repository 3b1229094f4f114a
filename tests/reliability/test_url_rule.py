"""One rule for every URL the simulator calls (issue: hostile input; core/urls.py): a Bird send's per-message
``notification.url``, a webhook subscription, a Business Chat business's endpoints and the Apple Pay endpoints a
message names are all accepted or refused by the same rule, where they are accepted (a 4xx in the provider's shape,
nothing stored) and again by the HTTP client before each call."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from simulator.core.http import HttpClient
from simulator.core.urls import UrlRefused, UrlRule
from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient, WebhookReceiver
from tests.bird.conftest import subs_path

sys.path.insert(0, str(Path(__file__).parents[1] / "business_chat"))
from bc_msp import MSP  # noqa: E402 - the Business Chat tests' MSP, found beside them

# Schemes and places the simulator never calls in its default (local) mode.
REFUSED = ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "ftp://localhost/x", "http://10.0.0.7/hook",
           "http://169.254.169.254/latest/meta-data/", "http://evil.example/x", "javascript:alert(1)",
           "http://127.0.0.1:99999/x", "http://localhost/a\r\nX-Injected: 1", "http://local host/x"]
ACCEPTED = ["http://127.0.0.1:9/x", "http://localhost:3000/hook", "https://app.localhost/x", "http://[::1]:8080/x",
            "https://hooks.example.com/bird"]


def _messages(sim: Any) -> int:
    return len(sim.http.get(f"/workspaces/{sim.workspace_id}/messages", headers=sim.bird_headers).json()["results"])


@pytest.mark.parametrize("url", REFUSED)
def test_a_send_whose_notification_url_breaks_the_rule_is_a_422_and_nothing_is_stored(provider_sim: Any,
                                                                                       url: str) -> None:
    sim = provider_sim
    before = _messages(sim)
    body = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
            "body": {"type": "text", "text": {"text": "hi"}}, "notification": {"url": url}}
    response = sim.http.post(sim.messages_path(), json=body, headers=sim.bird_headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "InvalidPayload"
    assert ".notification.url" in response.json()["details"], response.json()
    assert _messages(sim) == before
    # The subscription rule is the same rule: refused there too.
    sub = {"service": "channels", "event": "sms.outbound", "url": url}
    assert sim.http.post(subs_path(sim), json=sub, headers=sim.bird_headers).status_code == 422


@pytest.mark.parametrize("url", ACCEPTED)
def test_urls_the_rule_accepts_are_accepted_by_a_send_and_a_subscription(provider_sim: Any, url: str) -> None:
    sim = provider_sim
    message = sim.send_sms("+15551230000", notification={"url": url})
    assert message["id"]
    sub = {"service": "channels", "event": "sms.outbound", "url": url}
    assert sim.http.post(subs_path(sim), json=sub, headers=sim.bird_headers).status_code == 201


def test_a_batch_item_with_a_refused_notification_url_is_rejected_alone(provider_sim: Any) -> None:
    sim = provider_sim
    ok = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]}, "body": {"type": "text", "text": {"text": "a"}}}
    bad = {**ok, "notification": {"url": "file:///etc/passwd"}}
    path = sim.messages_path().replace("/messages", "/batch/messages")
    response = sim.http.post(path, json={"messageRequests": [ok, bad]}, headers=sim.bird_headers)
    assert response.status_code == 202, response.text
    listed = sim.http.get(sim.messages_path(), params={"batchId": response.json()["batchId"], "reverse": "true"},
                          headers=sim.bird_headers).json()["results"]
    assert [m["status"] for m in listed] == ["accepted", "rejected"]
    assert "notification.url" in listed[1]["reason"]


PAY = {"paymentRequest": {"lineItems": [{"label": "Item", "amount": "10.00", "type": "final"}],
                          "total": {"label": "Total", "amount": "10.00", "type": "final"},
                          "applePay": {"merchantIdentifier": "merchant.com.example", "supportedNetworks": ["visa"],
                                       "merchantCapabilities": ["supports3DS"]},
                          "merchantName": "Example", "countryCode": "US", "currencyCode": "USD"},
       "merchantSession": {"epochTimestamp": 1}}


@pytest.mark.parametrize("key", ["paymentGatewayUrl", "paymentMethodUpdateUrl", "shippingContactUpdateUrl",
                                 "shippingMethodUpdateUrl"])
@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "http://10.0.0.7/pay"])
def test_an_apple_pay_endpoint_the_simulator_would_call_follows_the_rule(provider_sim: Any, key: str,
                                                                         url: str) -> None:
    msp = MSP(provider_sim)
    endpoints = {"paymentGatewayUrl": "https://biz.example.com/pay", key: url}
    response = msp.send(msp.interactive("payment", {**PAY, "endpoints": endpoints}))
    assert response.status_code == 400, response.text
    assert key in response.text
    # Only shown to the customer, never called: not held to the rule.
    shown = {"paymentGatewayUrl": "https://biz.example.com/pay", "fallbackUrl": "app-scheme://x",
             "orderTrackingUrl": "https://biz.example.com/track"}
    assert msp.send(msp.interactive("payment", {**PAY, "endpoints": shown})).status_code == 200


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://10.0.0.7/hook", "gopher://localhost/x", 42])
def test_a_business_endpoint_set_through_the_control_plane_follows_the_rule(provider_sim: Any, url: Any) -> None:
    msp = MSP(provider_sim)
    path = f"/_sim/business-chat/businesses/{msp.business}"
    before = provider_sim.http.get(path).json()
    response = provider_sim.http.post(path, json={"webhookUrl": url})
    assert response.status_code == 400, response.text
    assert "webhookUrl" in response.text
    assert provider_sim.http.get(path).json() == before
    assert provider_sim.http.post(path, json={"webhookUrl": "http://127.0.0.1:9/bc"}).status_code == 200


def test_strict_mode_holds_every_url_to_birds_public_https_rule() -> None:
    settings = Settings(db=":memory:", clock="manual", port=0, allow_http_webhooks=False)
    with SimulatorServer(settings) as server, SimClient(server.url) as sim:
        body = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
                "body": {"type": "text", "text": {"text": "hi"}}, "notification": {"url": "http://127.0.0.1:9/x"}}
        assert sim.http.post(sim.messages_path(), json=body, headers=sim.bird_headers).status_code == 422
        body["notification"] = {"url": "https://hooks.example.com/bird"}
        assert sim.http.post(sim.messages_path(), json=body, headers=sim.bird_headers).status_code == 202
        msp = MSP(sim)
        path = f"/_sim/business-chat/businesses/{msp.business}"
        assert sim.http.post(path, json={"webhookUrl": "http://localhost:3000/bc"}).status_code == 400
        assert sim.http.post(path, json={"webhookUrl": "https://biz.example.com/bc"}).status_code == 200


def test_the_http_client_refuses_before_connecting() -> None:
    """A URL stored under a looser rule (an older database, a world file) is still not called."""
    receiver = WebhookReceiver()
    receiver.start()
    try:
        async def attempt() -> None:
            client = HttpClient(url_rule=UrlRule(allow_local=False))
            try:
                with pytest.raises(UrlRefused, match="public https URL"):
                    await client.post(receiver.url + "/hook", b"{}", {"Content-Type": "application/json"})
                allowed = HttpClient(url_rule=UrlRule())
                answer = await allowed.post(receiver.url + "/hook", b"{}", {"Content-Type": "application/json"})
                assert answer.status == 200
                await allowed.close()
            finally:
                await client.close()

        asyncio.run(attempt())
        assert [r.path for r in receiver.requests] == ["/hook"]  # only the allowed client's call arrived
    finally:
        receiver.stop()
