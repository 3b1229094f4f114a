"""Every interactive type: sent by the MSP, answered by the simulated customer, received on the webhook; what each
must carry (receivedMessage on built-in types, the capability a customer needs), data refs and /v1/decodePayload,
and the Apple Pay update endpoints."""
from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from bc_msp import BUILTIN_BID, MSP, PNG, create_customer, customer_path, device, verify_webhook
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

EVENT = {"identifier": "1", "title": "Appointment", "timezoneOffset": -420,
         "location": {"latitude": 37.77, "longitude": -122.43, "radius": 100, "title": "Store"},
         "timeslots": [{"identifier": "0", "startTime": "2025-07-10T17:00+0000", "duration": 3600},
                       {"identifier": "1", "startTime": "2025-07-10T18:00+0000", "duration": 1800}]}
QUICK = {"summaryText": "What can we help with?", "items": [{"identifier": "1", "title": "Track order"},
                                                            {"identifier": "2", "title": "Talk to an agent"}]}
PAYMENT = {
    "paymentRequest": {
        "lineItems": [{"label": "Item", "amount": "10.00", "type": "final"}],
        "total": {"label": "Total", "amount": "10.00", "type": "final"},
        "applePay": {"merchantIdentifier": "merchant.com.example", "supportedNetworks": ["visa"],
                     "merchantCapabilities": ["supports3DS"]},
        "merchantName": "Example", "countryCode": "US", "currencyCode": "USD"},
    "merchantSession": {"epochTimestamp": 1},
    "endpoints": {"paymentGatewayUrl": "https://biz.example.com/paymentGateway"},
}
FORM = {"version": "1.1", "template": "messageForms", "data": {"startPageIdentifier": "p1", "pages": [
    {"pageIdentifier": "p1", "type": "select", "title": "Drink", "multipleSelection": False,
     "items": [{"identifier": "a", "title": "Tea", "value": "tea"}, {"identifier": "b", "title": "Coffee"}]},
    {"pageIdentifier": "p2", "type": "input", "title": "Name", "submitForm": True,
     "options": {"placeholder": "Your name"}}]}}


def _roundtrip(sim: Any, msp: MSP, body: dict[str, Any], kind: str, answer: dict[str, Any]) -> dict[str, Any]:
    r = msp.send(body)
    assert r.status_code == 200, r.text
    r = sim.http.post(customer_path(msp) + f"/answer/{kind}", json=answer)
    assert r.status_code == 200, r.text
    sim.advance(1)
    reply = verify_webhook(msp.receiver.wait_for(1)[-1], msp)  # type: ignore[attr-defined]
    assert reply["type"] == "interactive"
    data = reply["interactiveData"] if "interactiveData" in reply else msp.resolve_idr(reply["interactiveDataRef"])
    if "data" in data:
        assert data["data"]["requestIdentifier"] == body["interactiveData"]["data"]["requestIdentifier"]
        assert data["data"]["replyMessage"]["title"]
    return data


def test_time_picker(provider_sim: Any, hooked: MSP) -> None:
    data = _roundtrip(provider_sim, hooked, hooked.interactive("event", EVENT), "time-picker", {"timeslot": "1"})
    assert data["data"]["event"]["timeslots"] == [EVENT["timeslots"][1]]


def test_quick_reply(provider_sim: Any, hooked: MSP) -> None:
    body = hooked.interactive("quick-reply", QUICK)
    data = _roundtrip(provider_sim, hooked, body, "quick-reply", {"item": "2"})
    assert data["data"]["quick-reply"]["selectedIndex"] == 1
    assert data["data"]["quick-reply"]["selectedIdentifier"] == "2"


def test_authentication_auth2_success_via_authenticate_endpoint(provider_sim: Any, hooked: MSP) -> None:
    auth = {"oauth2": {"responseType": "code", "scope": ["openid"], "state": "n1",
                       "redirectURI": "https://msp.example.com/cb"}}
    body = hooked.interactive("authenticate", auth)
    r = hooked.send(body, path="/v1/authenticate")
    assert r.status_code == 200, r.text
    r = provider_sim.http.post(customer_path(hooked) + "/answer/authentication", json={"token": "tok-1"})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    data = verify_webhook(hooked.receiver.wait_for(1)[0], hooked)["interactiveData"]  # type: ignore[attr-defined]
    assert data["data"]["authenticate"]["status"] == "authenticated"
    assert base64.b64decode(data["data"]["authenticate"]["token"]) == b"tok-1"


def test_authentication_legacy_encrypted_token_and_failure(provider_sim: Any, hooked: MSP) -> None:
    private = ec.generate_private_key(ec.SECP384R1())
    public = private.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    auth = {"oauth2": {"responseType": "token", "scope": ["email"],
                       "responseEncryptionKey": base64.b64encode(public).decode()}}
    data = _roundtrip(provider_sim, hooked, hooked.interactive("authenticate", auth), "authentication", {})
    blob = base64.b64decode(data["data"]["authenticate"]["token"])
    # Decrypt as Apple's auth_util.py does: ECDH, X9.63 KDF with SHA-256, AES-256-GCM.
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    v, rest = blob[:97], blob[97:]
    z = private.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), v))
    material = hashlib.sha256(z + b"\0\0\0\1" + v).digest() + hashlib.sha256(z + b"\0\0\0\2" + v).digest()
    assert AESGCM(material[:32]).decrypt(material[32:48], rest, None) == b"simulated-oauth-token"
    data = _roundtrip(provider_sim, hooked, hooked.interactive("authenticate", auth), "authentication",
                      {"result": "fail"})
    assert data["data"]["authenticate"]["status"] == "failed"


def test_apple_pay_calls_payment_gateway(provider_sim: Any, hooked: MSP, provider_sim_receiver: Any) -> None:
    provider_sim.http.post(f"/_sim/business-chat/businesses/{hooked.business}",
                           json={"paymentGatewayUrl": provider_sim_receiver.url + "/paymentGateway"})
    provider_sim_receiver.set_responses([(200, b'{"status": "STATUS_SUCCESS"}')])
    body = hooked.interactive("payment", PAYMENT)
    assert hooked.send(body).status_code == 200
    r = provider_sim.http.post(customer_path(hooked) + "/answer/apple-pay", json={"network": "Visa"})
    assert r.status_code == 200, r.text
    gateway_call = provider_sim_receiver.requests[0]
    assert gateway_call.path == "/paymentGateway"
    sent = gateway_call.json()
    assert sent["requestIdentifier"] == body["interactiveData"]["data"]["requestIdentifier"]
    assert sent["payment"]["paymentToken"]["paymentMethod"]["network"] == "Visa"
    provider_sim.advance(1)
    reply = verify_webhook(provider_sim_receiver.wait_for(2)[1], hooked)
    assert reply["interactiveData"]["data"]["payment"]["status"] == "success"


def test_form(provider_sim: Any, hooked: MSP) -> None:
    data = _roundtrip(provider_sim, hooked, hooked.interactive("dynamic", FORM), "form",
                      {"answers": {"p1": "b", "p2": "Ana"}})
    selections = data["data"]["dynamic"]["selections"]
    assert selections[0]["items"][0]["identifier"] == "b"
    assert selections[1]["input"] == "Ana"


def test_custom_app_and_third_party_data_refused(provider_sim: Any, hooked: MSP) -> None:
    bid = "com.apple.messages.MSMessageExtensionBalloonPlugin:ABCDE12345:com.example.Ext"
    idata = {"bid": bid, "appId": 123, "appName": "Pkg", "URL": "?a=1", "receivedMessage": {"title": "Pkg"}}
    body = hooked.envelope("interactive", interactiveData=idata)
    assert hooked.send(body).status_code == 200
    r = provider_sim.http.post(customer_path(hooked) + "/answer/custom-app", json={"url": "?a=2"})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    reply = verify_webhook(hooked.receiver.wait_for(1)[0], hooked)  # type: ignore[attr-defined]
    assert reply["interactiveData"]["URL"] == "?a=2"
    bad = hooked.envelope("interactive", interactiveData={**idata, "data": {"x": 1}})
    r = hooked.send(bad)
    assert r.status_code == 400
    assert "disallows use of 'data'" in r.text and r.json()["errors"][0]["pointer"] == "/interactiveData/data"


def test_rich_link_and_typing(provider_sim: Any, hooked: MSP) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(100)).decode()
    rich = {"url": "https://www.example.com/p/42", "title": "Product 42",
            "assets": {"image": {"data": png, "mimeType": "image/png"}}}
    assert hooked.send(hooked.envelope("typing_start")).status_code == 200
    assert hooked.send(hooked.envelope("richLink", richLinkData=rich)).status_code == 200
    assert hooked.send(hooked.envelope("typing_end")).status_code == 200
    got = device(hooked)
    assert [m["type"] for m in got] == ["typing_start", "richLink", "typing_end"]
    assert got[1]["richLink"]["title"] == "Product 42"


def test_multiple_selection_respected(provider_sim: Any, hooked: MSP) -> None:
    picker = {"sections": [{"title": "One", "multipleSelection": False, "items": [
        {"identifier": "a", "title": "A"}, {"identifier": "b", "title": "B"}]}]}
    assert hooked.send(hooked.interactive("listPicker", picker)).status_code == 200
    r = provider_sim.http.post(customer_path(hooked) + "/answer/list-picker", json={"items": ["a", "b"]})
    assert r.status_code == 400 and "multipleSelection" in r.text
    r = provider_sim.http.post(customer_path(hooked) + "/answer/list-picker", json={"items": ["zzz"]})
    assert r.status_code == 400 and "unknown" in r.text
    r = provider_sim.http.post(customer_path(hooked) + "/answer/list-picker", json={"items": ["b"]})
    assert r.status_code == 200
    r = provider_sim.http.post(customer_path(hooked) + "/answer/list-picker", json={"items": ["b"]})
    assert r.status_code == 404  # already answered


@pytest.mark.parametrize("include_header", [True, False])
def test_data_ref_returned_and_reusable(provider_sim: Any, hooked: MSP, include_header: bool) -> None:
    picker = {"sections": [{"items": [{"identifier": "a", "title": "A"}]}]}
    images = None if include_header else [{"identifier": "i", "data": base64.b64encode(bytes(12000)).decode()}]
    body = hooked.interactive("listPicker", picker, images=images)
    r = hooked.send(body, **({"include-data-ref": "true"} if include_header else {}))
    assert r.status_code == 200
    ref = r.json()["dataRef"]
    assert ref["bid"] == BUILTIN_BID and ref["size"] > 0 and ref["title"] == "Choose"
    again = hooked.envelope("interactive", interactiveDataRef=ref)
    assert hooked.send(again).status_code == 200
    got = device(hooked)
    assert got[-1]["interactive"]["interactiveData"]["data"]["listPicker"] == picker


def test_large_interactive_payload_is_stored_once_per_message(provider_sim: Any, provider_sim_server: Any,
                                                              hooked: MSP) -> None:
    """A 50 KB list picker is kept once, as the dataRef's bytes: the device's row points at that blob (its view
    and the customer's answer are rebuilt from it on read), also when the business sends the dataRef again.
    Before, the payload went through SQLite twice per message (four times before that)."""
    items = [{"identifier": str(k), "title": f"Item {k} " + "x" * 40, "subtitle": "details " * 30}
             for k in range(140)]
    picker = {"sections": [{"title": "Menu", "items": items}]}
    body = hooked.interactive("listPicker", picker)
    size = len(json.dumps(body["interactiveData"], separators=(",", ":")))
    assert size > 40_000
    r = hooked.send(body)
    assert r.status_code == 200, r.text
    ref = r.json()["dataRef"]
    again = hooked.envelope("interactive", interactiveDataRef=ref)
    assert hooked.send(again).status_code == 200
    sim = provider_sim_server.sim
    rows = provider_sim_server.call(sim.store.fetch_all(
        "SELECT length(data) FROM bc_device_messages WHERE id IN (?, ?)", (body["id"], again["id"])))
    assert len(rows) == 2 and all(row[0] < 2_000 for row in rows), [row[0] for row in rows]
    blob = provider_sim_server.call(sim.store.fetch_one("SELECT meta, length(data) FROM bc_blobs WHERE url=?",
                                                        (ref["url"],)))
    assert blob[0] == "{}" and blob[1] == ref["size"] >= size
    shown = [m["interactive"] for m in device(hooked)[-2:]]
    for one in shown:
        assert one["interactiveData"]["data"]["listPicker"] == picker and "interactiveDataInMessage" not in one
        assert one["interactiveData"]["sessionIdentifier"]  # Apple's generated session id comes back too
    # The customer answers both (the same requestIdentifier: the latest unanswered first); each reply names the
    # item chosen and the session of its message.
    assert shown[0]["requestIdentifier"] == shown[1]["requestIdentifier"]
    for choice in ("139", "7"):
        r = provider_sim.http.post(customer_path(hooked) + "/answer/list-picker",
                                   json={"items": [choice], "requestIdentifier": shown[0]["requestIdentifier"]})
        assert r.status_code == 200, r.text
    provider_sim.advance(1)
    replies = [verify_webhook(w, hooked) for w in hooked.receiver.wait_for(2)[-2:]]  # type: ignore[attr-defined]
    datas = [reply["interactiveData"] if "interactiveData" in reply else hooked.resolve_idr(
        reply["interactiveDataRef"]) for reply in replies]
    chosen = sorted(i["identifier"] for d in datas for s in d["data"]["listPicker"]["sections"] for i in s["items"])
    assert chosen == ["139", "7"]
    assert sorted(d["data"]["sessionIdentifier"] if "sessionIdentifier" in d["data"] else d.get(
        "sessionIdentifier") for d in datas) == sorted(one["interactiveData"]["sessionIdentifier"] for one in shown)


def test_interactive_with_empty_attachments_accepted_and_not_errors_are_short(provider_sim: Any, msp: MSP) -> None:
    # Apple's sample 22 sends "attachments": [] on an interactive message.
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


def test_authentication_needs_the_matching_capability(provider_sim: Any, msp: MSP) -> None:
    only2 = create_customer(provider_sim, businessId=msp.business, capabilities=["AUTH2"], existingConversation=True)["id"]
    only1 = create_customer(provider_sim, businessId=msp.business, capabilities=["AUTH"], existingConversation=True)["id"]
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


def test_decode_payload_requires_bid(provider_sim: Any, msp: MSP) -> None:
    payload = gzip.compress(json.dumps({"bid": BUILTIN_BID, "data": {"x": 1}}).encode())
    r = msp.http.post("/v1/decodePayload", content=payload, headers=msp.headers())
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "BadRequest" and r.json()["errors"] == [{"header": "bid", "message": r.json()[
        "errors"][0]["message"]}]
    r = msp.http.post("/v1/decodePayload", content=payload, headers=msp.headers(bid=BUILTIN_BID))
    assert r.status_code == 200 and r.json()["data"] == {"x": 1}


def _payment(url: str, shipping: bool) -> dict[str, Any]:
    """An Apple Pay request with every update endpoint on ``url`` (as Apple's samples 15 and 16 send)."""
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
