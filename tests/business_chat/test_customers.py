"""Simulated customers and their conversations: only the customer starts one, intent and group reach the MSP,
opaque ids with '/', '+', '=' work everywhere, capabilities default by device, and customers created at runtime are
checked as configured ones are."""
from __future__ import annotations

from typing import Any

from bc_msp import MSP, PNG, create_customer, customer_path, device, verify_webhook

CONTROL = "/_sim/business-chat"


def test_business_cannot_start_a_conversation(provider_sim: Any, hooked: MSP) -> None:
    fresh = create_customer(provider_sim, businessId=hooked.business)["id"]
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
    known = create_customer(provider_sim, businessId=hooked.business, existingConversation=True)
    assert known["existingConversation"] is True
    assert hooked.send_text("we spoke before", to=known["id"]).status_code == 200
    assert provider_sim.http.get(CONTROL).json()["settings"]["unstartedConversationStatus"] == 404


def test_inbound_intent_and_group(provider_sim: Any, hooked: MSP) -> None:
    r = provider_sim.http.post(customer_path(hooked) + "/text",
                               json={"text": "Hi", "intent": "order_help", "group": "support", "typing": False})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    body = verify_webhook(hooked.receiver.wait_for(1)[0], hooked)  # type: ignore[attr-defined]
    assert (body["intent"], body["group"]) == ("order_help", "support")
    r = provider_sim.http.post(customer_path(hooked) + "/text", json={"text": "Hi", "intent": 3})
    assert r.status_code == 400 and "intent" in r.text
    who = create_customer(provider_sim, businessId=hooked.business, intent="billing", group="vip")["id"]
    r = provider_sim.http.post(customer_path(hooked, who) + "/text", json={"text": "Invoice?", "typing": False})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    body = verify_webhook(hooked.receiver.wait_for(2)[1], hooked)  # type: ignore[attr-defined]
    assert (body["intent"], body["group"]) == ("billing", "vip")


def test_customer_ids_with_slash_plus_equals_can_act(provider_sim: Any, hooked: MSP) -> None:
    cid = "urn:mbid:AQAAY/x+y/Zz=="
    create_customer(provider_sim, id=cid, businessId=hooked.business)
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


def test_capabilities_explicit_empty_and_device_defaults(provider_sim: Any, msp: MSP) -> None:
    assert create_customer(provider_sim, capabilities=[])["capabilities"] == []
    mac = create_customer(provider_sim, deviceAgent="Mac OS X")["capabilities"]
    phone = create_customer(provider_sim, deviceAgent="iPhone OS")["capabilities"]
    assert "FORM" not in mac and {"QUICK", "LIST", "TIME", "AUTH", "AUTH2"} <= set(mac)
    assert "FORM" in phone
    none = create_customer(provider_sim, businessId=msp.business, capabilities=[], existingConversation=True)["id"]
    r = msp.send(msp.interactive("quick-reply", {"items": [{"identifier": "1", "title": "x"},
                                                            {"identifier": "2", "title": "y"}]}, to=none))
    assert r.status_code == 400 and "lacks QUICK" in r.text, r.text


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
