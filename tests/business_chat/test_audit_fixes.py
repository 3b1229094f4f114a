"""Digest-fidelity fixes, each reproduced through the HTTP surface: webhook timeout, empty attachments on
interactive messages, customer-initiated conversations, intent/group, opaque ids with '/', Apple Pay update
endpoints, IDR titles, AUTH vs AUTH2, capability defaults, decodePayload's bid, no invented text limits,
receivedMessage on built-in interactive types."""
from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from bc_msp import BUILTIN_BID, MSP, PNG, customer_path, device, verify_webhook
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from simulator.business_chat.config import load_config

CONTROL = "/_sim/business-chat"


def _create(sim: Any, **fields: Any) -> dict[str, Any]:
    r = sim.http.post(CONTROL + "/customers", json=fields)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _webhook_bodies(requests: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(gzip.decompress(r.body)) for r in requests if r.path == "/message"]


# -- 1. Apple waits up to 30 s for the MSP's webhook answer (digest §6) ------------------------------------------

class HoldingReceiver:
    """A loopback receiver that keeps each request's connection open for ``hold`` seconds before answering 200,
    recording when it answered (or that the client had gone)."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("content-length") or 0))
                started = time.monotonic()
                threading.Event().wait(receiver.hold)  # the receiver is slow; the test body never sleeps
                outcome = "answered"
                try:
                    self.send_response(200)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    self.wfile.flush()
                except OSError:
                    outcome = "client gone"
                with receiver._lock:
                    receiver.events.append({"path": self.path, "held": time.monotonic() - started,
                                            "outcome": outcome})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


SHARED_TIMEOUT = 0.25  # Settings.webhook_timeout of the dedicated simulator below (Bird's)
HOLD = 1.0             # how long the receiver holds each connection: > SHARED_TIMEOUT, far below 30 s


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
    receiver = HoldingReceiver(HOLD)
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
        answered = [e for e in receiver.events if e["path"] == "/message"]
        assert answered and answered[0]["outcome"] == "answered" and answered[0]["held"] >= HOLD * 0.9
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


# -- 2. sample 22: "attachments": [] on an interactive message; `not` errors name the field ------------------------

def test_interactive_with_empty_attachments_accepted_and_not_errors_are_short(provider_sim: Any, msp: MSP) -> None:
    idata = {"appId": 123456789, "appName": "Package Delivery", "URL": "?name=samplepackage",
             "bid": "com.apple.messages.MSMessageExtensionBalloonPlugin:ABCDE12345:com.example.PackageDelivery.Ext",
             "receivedMessage": {"title": "Package Delivery", "subtitle": "Location of Package"},
             "useLiveLayout": True}
    r = msp.send(msp.envelope("interactive", interactiveData=idata, attachments=[]))
    assert r.status_code == 200, r.text
    att, _ = msp.upload(PNG)
    r = msp.send(msp.envelope("interactive", interactiveData=idata, attachments=[att]))
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert error["pointer"] == "/attachments", r.text
    assert "'v'" not in r.text and "should not be valid" not in r.text and len(error["message"]) < 120, r.text
    r = msp.send(msp.envelope("typing_start", body="x"))
    assert r.status_code == 400 and r.json()["errors"][0]["pointer"] == "/body", r.text
    assert "'v'" not in r.text, r.text


# -- 3. only the customer starts a conversation (digest §14) -------------------------------------------------------

def test_business_cannot_start_a_conversation(provider_sim: Any, hooked: MSP) -> None:
    fresh = _create(provider_sim, businessId=hooked.business)["id"]
    r = hooked.send_text("Hello, we noticed you...", to=fresh)
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "ConversationNotStarted" and "only the customer" in r.json()["message"]
    assert hooked.send(hooked.envelope("typing_start", to=fresh)).status_code == 404
    assert device(hooked, fresh) == []
    # Typing alone does not start it; writing does.
    provider_sim.http.post(customer_path(hooked, fresh) + "/typing/start")
    assert hooked.send_text("still no", to=fresh).status_code == 404
    r = provider_sim.http.post(customer_path(hooked, fresh) + "/text", json={"text": "Hi there"})
    assert r.status_code == 200, r.text
    assert hooked.send_text("How can we help?", to=fresh).status_code == 200
    assert device(hooked, fresh)[-1]["body"] == "How can we help?"
    # Seeded customers have an open conversation; a created one can be given one.
    assert hooked.send_text("seeded").status_code == 200
    known = _create(provider_sim, businessId=hooked.business, existingConversation=True)
    assert known["existingConversation"] is True
    assert hooked.send_text("we spoke before", to=known["id"]).status_code == 200
    assert provider_sim.http.get(CONTROL).json()["settings"]["unstartedConversationStatus"] == 404


# -- 4. intent / group reach the MSP (digest §4, §6.1) ---------------------------------------------------------------

def test_inbound_intent_and_group(provider_sim: Any, hooked: MSP) -> None:
    r = provider_sim.http.post(customer_path(hooked) + "/text",
                               json={"text": "Hi", "intent": "order_help", "group": "support", "typing": False})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    body = verify_webhook(hooked.receiver.wait_for(1)[0], hooked)  # type: ignore[attr-defined]
    assert (body["intent"], body["group"]) == ("order_help", "support")
    r = provider_sim.http.post(customer_path(hooked) + "/text", json={"text": "Hi", "intent": 3})
    assert r.status_code == 400 and "intent" in r.text
    who = _create(provider_sim, businessId=hooked.business, intent="billing", group="vip")["id"]
    r = provider_sim.http.post(customer_path(hooked, who) + "/text", json={"text": "Invoice?", "typing": False})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    body = verify_webhook(hooked.receiver.wait_for(2)[1], hooked)  # type: ignore[attr-defined]
    assert (body["intent"], body["group"]) == ("billing", "vip")


# -- 5. opaque ids with '/', '+', '=' (digest §1) --------------------------------------------------------------------

def test_customer_ids_with_slash_plus_equals_can_act(provider_sim: Any, hooked: MSP) -> None:
    cid = "urn:mbid:AQAAY/x+y/Zz=="
    _create(provider_sim, id=cid, businessId=hooked.business)
    base = f"{CONTROL}/businesses/{hooked.business}/customers/"
    r = provider_sim.http.post(base + cid + "/text", json={"text": "slash id", "typing": False})
    assert r.status_code == 200, r.text
    r = provider_sim.http.post(base + cid.replace("/", "%2F").replace("+", "%2B") + "/typing/start")
    assert r.status_code == 200, r.text
    assert hooked.send_text("answer", to=cid).status_code == 200
    r = provider_sim.http.get(f"{CONTROL}/customers/{cid}/device")
    assert r.status_code == 200, r.text
    assert [m["type"] for m in r.json()["messages"]] == ["text", "typing_start", "text"]
    provider_sim.advance(1)
    bodies = [verify_webhook(q, hooked) for q in hooked.receiver.wait_for(2)]  # type: ignore[attr-defined]
    assert {b["sourceId"] for b in bodies} == {cid}
    r = provider_sim.http.post(base + cid + "/answer/list-picker", json={})
    assert r.status_code == 404 and "unanswered" in r.text
    # The UI downloads what the device received, decrypted, under the same kind of id.
    att, _ = hooked.upload(PNG)
    r = hooked.send(hooked.envelope("text", cid, body="\ufffc", attachments=[att]))
    assert r.status_code == 200, r.text
    seq = provider_sim.http.get(f"{CONTROL}/customers/{cid}/device").json()["messages"][-1]["seq"]
    r = provider_sim.http.get(f"{CONTROL}/customers/{cid}/device/{seq}/attachments/0")
    assert r.status_code == 200 and r.content == PNG, r.text[:200]


# -- 6. Apple Pay update endpoints (digest §8.7, Apple's sample 15/16) -----------------------------------------------

def _payment(url: str, shipping: bool) -> dict[str, Any]:
    request: dict[str, Any] = {
        "lineItems": [{"label": "Adoption fee", "amount": "1.50", "type": "final"}],
        "total": {"label": "Your Total", "amount": "3.50", "type": "final"},
        "applePay": {"merchantIdentifier": "merchant.x", "supportedNetworks": ["amex", "visa"],
                     "merchantCapabilities": ["supportsDebit", "supports3DS"]},
        "countryCode": "US", "currencyCode": "USD", "requiredBillingContactFields": ["post"]}
    if shipping:
        request["requiredShippingContactFields"] = ["post", "name", "phone", "email"]
        request["shippingMethods"] = [{"label": "Free", "detail": "8-10", "amount": "0.00", "identifier": "free"},
                                      {"label": "UPS", "detail": "2 days", "amount": "2.19", "identifier": "ups"}]
    return {"paymentRequest": request, "merchantSession": {"x": 1}, "endpoints": {
        "paymentGatewayUrl": url + "/paymentGateway", "fallbackUrl": url + "/fallback",
        "orderTrackingUrl": url + "/orderTracking", "paymentMethodUpdateUrl": url + "/paymentMethodUpdate",
        "shippingContactUpdateUrl": url + "/shippingContactUpdate",
        "shippingMethodUpdateUrl": url + "/shippingMethodUpdate"}}


def _payment_calls(rec: Any) -> list[str]:
    """The Apple Pay endpoints the device called, in order. The customer's reply to the business lands on the same
    receiver (``/message``) as soon as it is committed, so it may already be there: it is not a payment call."""
    return [q.path for q in rec.requests if q.path != "/message"]


def test_apple_pay_calls_update_endpoints_and_honours_them(provider_sim: Any, hooked: MSP) -> None:
    rec = hooked.receiver  # type: ignore[attr-defined]
    method_total = {"label": "Total", "amount": "4.00", "type": "final"}
    contact_total = {"label": "Total", "amount": "7.99", "type": "final"}
    contact_items = [{"label": "Adoption fee", "amount": "1.50", "type": "final"},
                     {"label": "FedEx Priority Mail", "amount": "3.99", "type": "final"}]
    rec.set_responses([(200, json.dumps({"newTotal": method_total, "newLineItems": []}).encode()),
                       (200, json.dumps({"newTotal": contact_total, "newLineItems": contact_items}).encode()),
                       (500, b"boom"),  # the shipping-method endpoint fails: logged, no change, no crash
                       (200, b'{"status": "STATUS_SUCCESS"}')])
    body = hooked.interactive("payment", _payment(rec.url, shipping=True))
    assert hooked.send(body).status_code == 200
    request_id = body["interactiveData"]["data"]["requestIdentifier"]
    r = provider_sim.http.post(customer_path(hooked) + "/answer/apple-pay", json={"shippingMethod": "ups"})
    assert r.status_code == 200, r.text
    calls = {q.path: q.json() for q in rec.requests}
    assert _payment_calls(rec) == ["/paymentMethodUpdate", "/shippingContactUpdate", "/shippingMethodUpdate",
                                   "/paymentGateway"]
    for path in ("/paymentMethodUpdate", "/shippingContactUpdate", "/shippingMethodUpdate"):
        assert calls[path]["requestIdentifier"] == request_id and calls[path]["version"] == "1.0"
    assert calls["/paymentMethodUpdate"]["payment"] == {"paymentMethod": {"type": "Credit"}}
    assert calls["/shippingContactUpdate"]["payment"]["shippingContact"]["postalCode"]
    assert calls["/shippingMethodUpdate"]["payment"]["shippingMethod"]["identifier"] == "ups"
    sent = calls["/paymentGateway"]["payment"]
    assert sent["paymentToken"]["paymentMethod"]["type"] == "Credit"
    assert sent["total"] == contact_total and sent["lineItems"] == contact_items
    gateway = r.json()["paymentGateway"]
    assert gateway["approved"] is True and gateway["total"] == contact_total
    assert [u["endpoint"] for u in gateway["updates"]] == ["paymentMethodUpdateUrl", "shippingContactUpdateUrl",
                                                            "shippingMethodUpdateUrl"]
    assert gateway["updates"][2]["applied"] is False and "500" in gateway["updates"][2]["result"]
    provider_sim.advance(1)
    reply = verify_webhook(rec.wait_for(5)[4], hooked)
    payment = reply["interactiveData"]["data"]["payment"]
    assert "gateway" not in payment and payment["status"] == "success"
    assert payment["paymentMethod"]["type"] == "Credit"
    shown = device(hooked, direction="sent")[-1]
    assert shown["interactive"]["paymentGateway"]["summary"].startswith("200")


def test_apple_pay_without_shipping_calls_only_the_method_update(provider_sim: Any, hooked: MSP) -> None:
    rec = hooked.receiver  # type: ignore[attr-defined]
    rec.set_responses([(200, b"{}"), (200, b'{"status": "STATUS_SUCCESS"}')])
    body = hooked.interactive("payment", _payment(rec.url, shipping=False))
    assert hooked.send(body).status_code == 200
    r = provider_sim.http.post(customer_path(hooked) + "/answer/apple-pay", json={})
    assert r.status_code == 200, r.text
    assert _payment_calls(rec) == ["/paymentMethodUpdate", "/paymentGateway"]
    assert rec.requests[1].json()["payment"]["total"]["amount"] == "3.50"


# -- 7. a large reply's interactiveDataRef.title is receivedMessage.title (digest §9.2) ----------------------------

def test_large_reply_title_is_received_message_title(provider_sim: Any, hooked: MSP) -> None:
    picker = {"sections": [{"items": [{"identifier": "a", "title": "A"}]}]}
    image = {"identifier": "i", "data": base64.b64encode(bytes(12000)).decode()}
    body = hooked.interactive("listPicker", picker, images=[image], received={"title": "Select Produce"})
    assert hooked.send(body).status_code == 200
    r = provider_sim.http.post(customer_path(hooked) + "/answer/list-picker", json={"items": ["a"]})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    reply = verify_webhook(hooked.receiver.wait_for(1)[0], hooked)  # type: ignore[attr-defined]
    assert reply["interactiveDataRef"]["title"] == "Select Produce"


# -- 8. AUTH (legacy, responseEncryptionKey) vs AUTH2 (redirectURI) (digest §3, §8.6) ------------------------------

def test_authentication_needs_the_matching_capability(provider_sim: Any, msp: MSP) -> None:
    only2 = _create(provider_sim, businessId=msp.business, capabilities=["AUTH2"], existingConversation=True)["id"]
    only1 = _create(provider_sim, businessId=msp.business, capabilities=["AUTH"], existingConversation=True)["id"]
    public = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    legacy = {"oauth2": {"responseType": "code", "scope": ["openid"],
                         "responseEncryptionKey": base64.b64encode(public).decode()}}
    new = {"oauth2": {"responseType": "code", "scope": ["openid"], "redirectURI": "https://msp.example/cb"}}
    for to, auth, status in ((only2, legacy, 400), (only1, new, 400), (only1, legacy, 200), (only2, new, 200)):
        r = msp.send(msp.interactive("authenticate", auth, to=to), path="/v1/authenticate")
        assert r.status_code == status, (to, r.text)
        if status == 400:
            assert r.json()["errors"][0]["pointer"] == "/interactiveData/data/authenticate"
            assert ("lacks AUTH2" if auth is new else "lacks AUTH)") in r.text, r.text


# -- 9. capabilities: [] stays empty; the default set depends on the device (digest §3) ---------------------------

def test_capabilities_explicit_empty_and_device_defaults(provider_sim: Any, msp: MSP) -> None:
    assert _create(provider_sim, capabilities=[])["capabilities"] == []
    mac = _create(provider_sim, deviceAgent="Mac OS X")["capabilities"]
    phone = _create(provider_sim, deviceAgent="iPhone OS")["capabilities"]
    assert "FORM" not in mac and {"QUICK", "LIST", "TIME", "AUTH", "AUTH2"} <= set(mac)
    assert "FORM" in phone
    none = _create(provider_sim, businessId=msp.business, capabilities=[], existingConversation=True)["id"]
    r = msp.send(msp.interactive("quick-reply", {"items": [{"identifier": "1", "title": "x"},
                                                            {"identifier": "2", "title": "y"}]}, to=none))
    assert r.status_code == 400 and "lacks QUICK" in r.text, r.text


# -- 10. /v1/decodePayload requires the bid header (digest §3) -------------------------------------------------------

def test_decode_payload_requires_bid(provider_sim: Any, msp: MSP) -> None:
    payload = gzip.compress(json.dumps({"bid": BUILTIN_BID, "data": {"x": 1}}).encode())
    r = msp.http.post("/v1/decodePayload", content=payload, headers=msp.headers())
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "BadRequest" and r.json()["errors"] == [{"header": "bid", "message": r.json()[
        "errors"][0]["message"]}]
    r = msp.http.post("/v1/decodePayload", content=payload, headers=msp.headers(bid=BUILTIN_BID))
    assert r.status_code == 200 and r.json()["data"] == {"x": 1}


# -- 11. no invented caps on text length or attachment count (digest §4, §13) --------------------------------------

def test_long_text_and_many_attachments_accepted(provider_sim: Any, msp: MSP) -> None:
    r = msp.send_text("a" * 20_000)
    assert r.status_code == 200, r.text
    att, _ = msp.upload(PNG)
    r = msp.send(msp.envelope("text", body="\ufffc" * 25, attachments=[att] * 25))
    assert r.status_code == 200, r.text
    assert len(device(msp)[-1]["attachments"]) == 25
    r = msp.send_text("a" * (3 * 1024 * 1024))  # the request body cap still bounds it
    assert r.status_code == 413, r.text[:200]


# -- 12. receivedMessage is required on built-in types except quick reply (digest §8.1, §8.3) ---------------------

@pytest.mark.parametrize("feature,value", [
    ("listPicker", {"sections": [{"items": [{"identifier": "a", "title": "A"}]}]}),
    ("event", {"identifier": "1", "timeslots": [{"identifier": "0", "startTime": "2025-07-10T17:00+0000",
                                                  "duration": 3600}]}),
    ("authenticate", {"oauth2": {"responseType": "code", "scope": ["openid"], "redirectURI": "https://m/cb"}}),
    ("payment", {"paymentRequest": {"total": {"label": "T", "amount": "1.00"}, "countryCode": "US",
                                    "currencyCode": "USD", "applePay": {
                                        "merchantIdentifier": "m", "supportedNetworks": ["visa"],
                                        "merchantCapabilities": ["supports3DS"]}},
                 "endpoints": {"paymentGatewayUrl": "https://biz.example/pay"}}),
    ("dynamic", {"version": "1.1", "template": "messageForms", "data": {"startPageIdentifier": "p1", "pages": [
        {"pageIdentifier": "p1", "type": "input", "title": "Name", "submitForm": True}]}}),
])
def test_received_message_required_for_builtin_types(provider_sim: Any, msp: MSP, feature: str,
                                                     value: Any) -> None:
    body = msp.interactive(feature, value)
    del body["interactiveData"]["receivedMessage"]
    r = msp.send(body)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["pointer"] == "/interactiveData/receivedMessage", r.text


def test_quick_reply_without_received_message_accepted(provider_sim: Any, msp: MSP) -> None:
    """Apple's sample 23 sends a quick reply with no receivedMessage."""
    body = msp.interactive("quick-reply", {"summaryText": "What?", "items": [{"identifier": "1", "title": "A"},
                                                                              {"identifier": "2", "title": "B"}]})
    del body["interactiveData"]["receivedMessage"]
    assert msp.send(body).status_code == 200


def test_created_customer_is_checked_as_a_configured_one(provider_sim: Any) -> None:
    """A knob of the wrong type was stored and failed later, inside the send that met it; now it is a 400 that
    names the field, as the world config's schema would."""
    r = provider_sim.http.post(CONTROL + "/customers", json={
        "behaviour": {"reply_to_text": {"text": "ok", "after_seconds": "soon"}}, "deviceAgent": "Android"})
    assert r.status_code == 400, r.text
    details = r.json()["error"]["details"]
    assert details["behaviour.reply_to_text.after_seconds"] == ['value must be a number, got string']
    assert details["deviceAgent"][0].startswith('value must be one of "iPhone OS", "Mac OS X"')
    assert provider_sim.http.post(CONTROL + "/customers", json={"businessId": ["x"]}).status_code == 400
    ok = provider_sim.http.post(CONTROL + "/customers", json={"behaviour": {"reply_to_text": {"text": "ok"}}})
    assert ok.status_code == 201, ok.text
