"""Attachments both ways, auth failures, validation pointers, close semantics, ordering, scripted behaviour."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from typing import Any

import httpx2 as httpx
import jwt
import pytest
from bc_msp import MSP, PNG, customer_path, device, verify_webhook

# Not the MSP's secret, and long enough for HS256 (PyJWT warns about shorter keys).
WRONG_KEY = b"not-the-msp-secret-but-32-bytes!"


def _send_attachment(msp: MSP, att: dict[str, Any]) -> httpx.Response:
    return msp.send(msp.envelope("text", body="Your image: \ufffc", attachments=[att]))


def test_outbound_attachment_decrypted_on_device(provider_sim: Any, hooked: MSP) -> None:
    att, _ = hooked.upload(PNG)
    r = _send_attachment(hooked, att)
    assert r.status_code == 200, r.text
    got = device(hooked)[-1]["attachments"][0]
    assert got["name"] == "x.png" and got["size"] == len(PNG)
    assert got["sha256"] == hashlib.sha256(PNG).hexdigest()


@pytest.mark.parametrize("field,value,pointer", [
    ("owner", "Mnot-the-owner.0000", "/attachments/0/owner"),
    ("signature-base64", base64.b64encode(b"\x81" + bytes(20)).decode(), "/attachments/0/signature-base64"),
    ("size", "1", "/attachments/0/size"),
    ("size", "¹", "/attachments/0/size"),  # a digit to str.isdigit(), not to int()
    ("url", "https://p1-content.example/none", "/attachments/0/url"),
])
def test_wrong_attachment_refused(provider_sim: Any, msp: MSP, field: str, value: str, pointer: str) -> None:
    att, _ = msp.upload(PNG)
    r = _send_attachment(msp, {**att, field: value})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["pointer"] == pointer
    assert device(msp) == []


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 4
WRONG_UPLOAD_KEY = "00" + hashlib.sha256(b"not the upload key").hexdigest()


def test_what_the_device_cannot_open_is_accepted_as_apple_does_and_shown(provider_sim: Any, msp: MSP) -> None:
    """Apple's gateway cannot tell that a key is wrong or a type mislabelled (AES-CTR has no integrity check):
    it answers 200. The device view, the journal and the log say what the customer would see."""
    att, _ = msp.upload(JPEG)  # Apple's sample flow: a JPEG labelled image/png
    assert att["mimeType"] == "image/png"
    r = _send_attachment(msp, att)
    assert r.status_code == 200, r.text
    att2, _ = msp.upload(PNG)
    r = _send_attachment(msp, {**att2, "key": WRONG_UPLOAD_KEY})
    assert r.status_code == 200, r.text
    seen = [m["attachments"][0] for m in device(msp)]
    assert [a["problem"].startswith("the customer could not open this attachment: ") for a in seen] == [True, True]
    assert "image/png" in seen[0]["problem"]
    [*_, first, second] = provider_sim.journal(path="/v1/message", kind="request")
    assert "could not open" in first["diagnostics"]["notes"][0]
    assert "could not open" in second["diagnostics"]["notes"][0]


def test_refusing_what_the_device_cannot_open_is_an_opt_in(provider_sim: Any, msp: MSP) -> None:
    settings = provider_sim.http.put("/_sim/business-chat/settings", json={"attachmentKeyCheck": "refuse"})
    assert settings.status_code == 200 and settings.json() == {"attachmentKeyCheck": "refuse"}
    att, _ = msp.upload(PNG)
    r = _send_attachment(msp, {**att, "key": WRONG_UPLOAD_KEY})
    assert r.status_code == 400 and r.json()["errors"][0]["pointer"] == "/attachments/0/key"
    assert device(msp) == []
    bad = provider_sim.http.put("/_sim/business-chat/settings", json={"attachmentKeyCheck": "strict"})
    assert bad.status_code == 400
    provider_sim.reset()  # a full reset returns to the world config's setting
    assert provider_sim.http.get("/_sim/business-chat").json()["settings"]["attachmentKeyCheck"] == "report"


@pytest.mark.parametrize("field", ["mimeType", "name"])
def test_control_characters_never_reach_a_header(provider_sim: Any, msp: MSP, field: str) -> None:
    """An attachment's type and name become the download's Content-Type and Content-Disposition: a CR/LF in
    them is a 400 at the gateway, not a header injection (or a broken answer) later."""
    att, _ = msp.upload(PNG)
    r = _send_attachment(msp, {**att, field: att[field] + "\r\nX-Injected: 1"})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["pointer"] == f"/attachments/0/{field}"
    assert device(msp) == []


def test_fffc_count_and_upload_size_checked(provider_sim: Any, msp: MSP) -> None:
    att, _ = msp.upload(PNG)
    r = msp.send(msp.envelope("text", body="no marker", attachments=[att]))
    assert r.status_code == 400 and r.json()["errors"][0]["pointer"] == "/body"
    pre = msp.http.get("/v1/preUpload", headers=msp.headers(size="10")).json()
    r = httpx.post(pre["upload-url"], content=b"12345")
    assert r.status_code == 400 and "declared size" in r.text


def test_customer_attachment_download_and_ttl(provider_sim: Any, hooked: MSP) -> None:
    r = provider_sim.http.post(customer_path(hooked) + "/attachment",
                               json={"name": "IMG_0001.PNG", "mimeType": "image/png",
                                     "data": base64.b64encode(PNG).decode()})
    assert r.status_code == 200, r.text
    provider_sim.advance(1)
    msg = verify_webhook(hooked.receiver.wait_for(2)[1], hooked)  # type: ignore[attr-defined]
    att = msg["attachments"][0]
    assert msg["body"] == "\ufffc" and isinstance(att["size"], int)
    assert att["key"] == att["key"][:2] + att["key"][2:].upper() and len(att["key"]) == 66
    assert hooked.download(att) == PNG
    # wrong owner / signature refused; an expired download URL answers 404
    bad = hooked.headers(url=att["url"], owner="Mx", signature=att["signature-base64"])
    assert hooked.http.get("/v1/preDownload", headers=bad).status_code == 400
    bad = hooked.headers(url=att["url"], owner=att["owner"], signature=base64.b64encode(bytes(21)).decode())
    assert hooked.http.get("/v1/preDownload", headers=bad).status_code == 400
    good = hooked.headers(url=att["url"], owner=att["owner"], signature=att["signature-base64"])
    url = hooked.http.get("/v1/preDownload", headers=good).json()["download-url"]
    assert httpx.get(url).status_code == 200
    provider_sim.advance(61)
    assert httpx.get(url).status_code == 404


@pytest.mark.provider_sim(config=os.path.join(os.path.dirname(__file__), "legacy-world.yaml"))
def test_legacy_attachment_keys_and_raw_secret(provider_sim: Any, provider_sim_receiver: Any) -> None:
    msp = MSP(provider_sim)
    provider_sim.http.post(f"/_sim/business-chat/businesses/{msp.business}", json={"webhookUrl": provider_sim_receiver.url})
    raw_token = jwt.encode({"iss": msp.msp_id, "iat": int(time.time())}, msp.secret_b64, algorithm="HS256")
    body = msp.envelope("text", body="hi")
    r = msp.send(body, Authorization=f"Bearer {raw_token}")
    assert r.status_code == 200, r.text
    provider_sim.http.post(customer_path(msp) + "/attachment", json={"name": "a.txt", "mimeType": "text/plain",
                                                                      "text": "hello"})
    provider_sim.advance(1)
    msp.receiver = provider_sim_receiver  # type: ignore[attr-defined]
    att = verify_webhook(provider_sim_receiver.wait_for(2)[1], msp)["attachments"][0]
    assert set(att) == {"name", "mime-type", "file-size", "decryption-key", "mmcs-url", "mmcs-owner",
                        "mmcs-signature-hex"}
    assert msp.download(att) == b"hello"


def test_auth_failures(provider_sim: Any, msp: MSP) -> None:
    body = msp.envelope("text", body="hi")
    h = {"id": body["id"], "source-id": msp.business, "destination-id": msp.customer}
    assert msp.http.post("/v1/message", json=body, headers=h).status_code == 401
    for token in (jwt.encode({"iss": msp.msp_id, "iat": int(time.time())}, WRONG_KEY, algorithm="HS256"),
                  jwt.encode({"iss": "someone-else", "iat": int(time.time())}, msp.secret, algorithm="HS256"),
                  jwt.encode({"iss": msp.msp_id, "iat": int(time.time()) - 7200}, msp.secret, algorithm="HS256"),
                  jwt.encode({"iss": msp.msp_id, "iat": int(time.time())}, msp.secret_b64, algorithm="HS256"),
                  jwt.encode({"iss": msp.msp_id}, msp.secret, algorithm="HS256"), "not.a.jwt"):
        r = msp.http.post("/v1/message", json=body, headers={**h, "Authorization": f"Bearer {token}"})
        assert r.status_code == 403, (token, r.text)
    assert msp.http.get("/v1/preUpload", headers={"size": "1"}).status_code == 401


def test_reused_token_has_its_time_claims_checked_on_every_request(provider_sim: Any, msp: MSP,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A token's verified signature is remembered (PyJWT's decode is the dearest part of a request), but its
    exp and iat are checked against the clock on every request, and a bad signature is never remembered."""
    import types

    from simulator.business_chat import auth

    now = int(time.time())
    body = msp.envelope("text", body="hi")
    h = {"id": body["id"], "source-id": msp.business, "destination-id": msp.customer}
    expiring = jwt.encode({"iss": msp.msp_id, "iat": now, "exp": now + 60}, msp.secret, algorithm="HS256")
    lasting = jwt.encode({"iss": msp.msp_id, "iat": now}, msp.secret, algorithm="HS256")
    for token in (expiring, expiring, lasting, lasting):
        r = msp.http.post("/v1/message", json=body, headers={**h, "Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(time=lambda: now + 120))
    r = msp.http.post("/v1/message", json=body, headers={**h, "Authorization": f"Bearer {expiring}"})
    assert r.status_code == 403 and "expired" in r.text, r.text
    assert msp.http.post("/v1/message", json=body,
                         headers={**h, "Authorization": f"Bearer {lasting}"}).status_code == 200
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(time=lambda: now + 3700))
    r = msp.http.post("/v1/message", json=body, headers={**h, "Authorization": f"Bearer {lasting}"})
    assert r.status_code == 403 and "maximum age" in r.text, r.text
    monkeypatch.undo()
    forged = lasting.rsplit(".", 1)[0] + "." + jwt.encode({"iss": msp.msp_id, "iat": now}, WRONG_KEY,
                                                           algorithm="HS256").rsplit(".", 1)[1]
    for _ in range(2):
        r = msp.http.post("/v1/message", json=body, headers={**h, "Authorization": f"Bearer {forged}"})
        assert r.status_code == 403 and "signature" in r.text, r.text


def test_validation_says_where(provider_sim: Any, msp: MSP) -> None:
    body = msp.envelope("text", body="hi")
    r = msp.send(body, id=str(uuid.uuid4()))
    assert r.status_code == 400 and r.json()["errors"][0]["pointer"] == "/headers/id"
    r = msp.send({**body, "v": 2})
    assert r.status_code == 400 and r.json()["errors"][0]["pointer"] == "/v"
    r = msp.send({**body, "type": "close"})
    assert r.status_code == 400 and "close" in r.json()["message"]
    r = msp.send(msp.envelope("text", to="urn:mbid:AQAAYnobody", body="hi"))
    assert r.status_code == 404
    picker = msp.interactive("listPicker", {"sections": [{"items": [{"identifier": "a", "title": "A"}]}]})
    del picker["interactiveData"]["data"]["requestIdentifier"]
    r = msp.send(picker)
    assert r.json()["errors"][0]["pointer"] == "/interactiveData/data/requestIdentifier"
    quick = msp.interactive("quick-reply", {"items": [{"identifier": "1", "title": "x"}]}, to=msp.customer_two)
    r = msp.send(quick)
    assert r.status_code == 400 and "/interactiveData/data/quick-reply" in r.text


def test_close_semantics_and_order(provider_sim: Any, hooked: MSP) -> None:
    for i in range(5):
        assert hooked.send_text(f"m{i}").status_code == 200
    assert [m["body"] for m in device(hooked)] == [f"m{i}" for i in range(5)]
    provider_sim.http.post(customer_path(hooked) + "/close")
    r = hooked.send_text("still there?")
    assert r.status_code == 410 and r.json()["code"] == "ConversationClosed"
    assert hooked.send(hooked.envelope("typing_start")).status_code == 410
    provider_sim.http.post(customer_path(hooked) + "/text", json={"text": "back"})
    assert hooked.send_text("welcome back").status_code == 200
    provider_sim.advance(1)
    types = [verify_webhook(r, hooked)["type"] for r in hooked.receiver.wait_for(3)]  # type: ignore[attr-defined]
    assert types == ["close", "typing_start", "text"]


def test_webhook_retried_through_outbox(provider_sim: Any, hooked: MSP) -> None:
    hooked.receiver.set_responses([500])  # type: ignore[attr-defined]
    provider_sim.http.post(customer_path(hooked) + "/text", json={"text": "retry me", "typing": False})
    provider_sim.advance(1)
    hooked.receiver.wait_for(1)  # type: ignore[attr-defined]
    provider_sim.advance(31)
    second = hooked.receiver.wait_for(2)[1]  # type: ignore[attr-defined]
    assert verify_webhook(second, hooked)["body"] == "retry me"


def test_tapback_and_scoped_reset(provider_sim: Any, hooked: MSP) -> None:
    hooked.send_text("Your order shipped")
    r = provider_sim.http.post(customer_path(hooked) + "/tapback", json={"reaction": "like"})
    assert r.json()["sent"]["body"] == "Liked “Your order shipped”"
    provider_sim.reset(customer=hooked.customer)
    assert device(hooked, direction="") == []


def test_scripted_behaviour(provider_sim: Any, hooked: MSP) -> None:
    r = provider_sim.http.post("/_sim/business-chat/customers", json={
        "businessId": hooked.business, "capabilities": ["LIST"],
        "behaviour": {"answer_list_picker": {"after_seconds": 5, "choose": "first"},
                      "reply_to_text": {"text": "agent", "after_seconds": 2}, "close_after_messages": 3}})
    assert r.status_code == 201, r.text
    who = r.json()["id"]
    # Only the customer starts a conversation (digest §14): a created customer writes first.
    r = provider_sim.http.post(customer_path(hooked, who) + "/text", json={"text": "hi", "typing": False})
    assert r.status_code == 200, r.text
    assert hooked.send_text("hello", to=who).status_code == 200
    picker = {"sections": [{"items": [{"identifier": "a", "title": "A"}, {"identifier": "b", "title": "B"}]}]}
    hooked.send(hooked.interactive("listPicker", picker, to=who))
    provider_sim.advance(2)
    provider_sim.advance(3)
    hooked.send_text("third", to=who)
    provider_sim.advance(3)
    bodies = [json.loads(__import__("gzip").decompress(x.body)) for x in hooked.receiver.wait_for(7)]  # type: ignore
    kinds = [(b["type"], b.get("body")) for b in bodies]
    assert ("text", "agent") in kinds
    picked = [b for b in bodies if b["type"] == "interactive"][0]
    assert picked["interactiveData"]["data"]["listPicker"]["sections"][0]["items"][0]["identifier"] == "a"
    assert kinds[-1][0] in ("close", "text")
    assert any(k[0] == "close" for k in kinds)


def test_long_text_and_many_attachments_accepted(provider_sim: Any, msp: MSP) -> None:
    # Apple documents no cap on a text's length or on the number of attachments: none is invented.
    r = msp.send_text("a" * 20_000)
    assert r.status_code == 200, r.text
    att, _ = msp.upload(PNG)
    r = msp.send(msp.envelope("text", body="\ufffc" * 25, attachments=[att] * 25))
    assert r.status_code == 200, r.text
    assert len(device(msp)[-1]["attachments"]) == 25
    r = msp.send_text("a" * (3 * 1024 * 1024))  # the request body cap still bounds it
    assert r.status_code == 413, r.text[:200]
