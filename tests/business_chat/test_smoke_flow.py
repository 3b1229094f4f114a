"""End to end: list picker sent, customer chooses, MSP receives the reply on a real webhook (incl. IDR)."""
from __future__ import annotations

from typing import Any

from bc_msp import MSP, PNG, customer_path, device, verify_webhook

PICKER = {"sections": [
    {"title": "Sizes", "order": 0, "multipleSelection": False, "items": [
        {"identifier": "s", "title": "Small", "order": 0, "style": "default"},
        {"identifier": "m", "title": "Medium", "order": 1, "style": "default"}]},
    {"title": "Extras", "order": 1, "multipleSelection": True, "items": [
        {"identifier": "milk", "title": "Milk"}, {"identifier": "sugar", "title": "Sugar"}]}]}


def test_text_reaches_device_and_customer_reply_reaches_webhook(provider_sim: Any, hooked: MSP) -> None:
    r = hooked.send_text("Hello from the business")
    assert r.status_code == 200, r.text
    assert r.content == b""
    got = device(hooked)
    assert got[-1]["body"] == "Hello from the business"
    r = provider_sim.http.post(customer_path(hooked) + "/text", json={"text": "Hi!"})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    requests = hooked.receiver.wait_for(2)
    bodies = [verify_webhook(req, hooked) for req in requests]
    assert [b["type"] for b in bodies] == ["typing_start", "text"]
    assert bodies[1]["body"] == "Hi!"


def test_list_picker_inline_and_large_reply(provider_sim: Any, hooked: MSP) -> None:
    small = hooked.interactive("listPicker", PICKER)
    assert hooked.send(small).status_code == 200
    r = provider_sim.http.post(customer_path(hooked) + "/answer/list-picker", json={"items": ["m", "milk", "sugar"]})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    reply = verify_webhook(hooked.receiver.wait_for(1)[0], hooked)
    data = reply["interactiveData"]["data"]
    assert data["requestIdentifier"] == small["interactiveData"]["data"]["requestIdentifier"]
    assert data["replyMessage"]["title"] == "Thanks"
    picked = [i["identifier"] for s in data["listPicker"]["sections"] for i in s["items"]]
    assert picked == ["m", "milk", "sugar"]

    big_image = {"identifier": "img", "data": __import__("base64").b64encode(PNG * 400).decode()}
    large = hooked.interactive("listPicker", PICKER, images=[big_image])
    r = hooked.send(large)
    assert r.status_code == 200 and "dataRef" in r.json()
    r = provider_sim.http.post(customer_path(hooked) + "/answer/list-picker", json={"items": ["s"]})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    reply = verify_webhook(hooked.receiver.wait_for(2)[1], hooked)
    assert "interactiveData" not in reply
    ref = reply["interactiveDataRef"]
    assert isinstance(ref["size"], int) and ref["key"][2:] == ref["key"][2:].upper()
    resolved = hooked.resolve_idr(ref)
    assert resolved["data"]["requestIdentifier"] == large["interactiveData"]["data"]["requestIdentifier"]
    assert resolved["data"]["listPicker"]["sections"][0]["items"][0]["identifier"] == "s"
