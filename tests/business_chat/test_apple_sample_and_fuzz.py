"""Apple-sample-style client code (spec §18) and a no-5xx property test over /v1/message."""
from __future__ import annotations

import base64
import gzip
import json
import os
import time
import urllib.request
import uuid
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bc_msp import MSP, PNG, aes_ctr, customer_path
from tests.reliability._support import swapped_or_removed


def test_apple_sample_style_attachment_roundtrip(provider_sim: Any, hooked: MSP) -> None:
    """Written like Apple's 2025 samples 04/05, with urllib: MMCS-Size, hex signature, upper-case key."""
    base = provider_sim.url + "/v1"

    def headers() -> dict[str, str]:
        token = jwt.encode({"iss": hooked.msp_id, "iat": int(time.time())}, base64.b64decode(hooked.secret_b64),
                           algorithm="HS256")
        return {"Authorization": "Bearer %s" % token, "Source-Id": hooked.business}

    def call(url: str, data: bytes | None = None, extra: dict[str, str] | None = None, method: str = "GET") -> Any:
        req = urllib.request.Request(url, data=data, headers={**headers(), **(extra or {})}, method=method)
        with urllib.request.urlopen(req) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read()

    key = os.urandom(32)
    plaintext = b"%PDF-1.4 sample receipt"
    encrypted = aes_ctr(key, plaintext)
    _, raw = call(base + "/preUpload", extra={"MMCS-Size": str(len(encrypted))})
    pre = json.loads(raw)
    status, raw = call(pre["upload-url"], encrypted, {"content-length": str(len(encrypted))}, "POST")
    assert status == 200
    checksum = json.loads(raw)["singleFile"]["fileChecksum"]
    message_id = str(uuid.uuid4())
    body = {"v": 1, "id": message_id, "type": "text", "sourceId": hooked.business, "destinationId": hooked.customer,
            "body": "\ufffc", "attachments": [{"name": "receipt.pdf", "mimeType": "application/pdf",
                                              "size": str(len(encrypted)), "signature-base64": checksum,
                                              "url": pre["mmcs-url"], "owner": pre["mmcs-owner"],
                                              "key": "00" + key.hex()}]}
    status, _ = call(base + "/message", json.dumps(body).encode(),
                     {"id": message_id, "Destination-Id": hooked.customer, "Content-Type": "application/json"}, "POST")
    assert status == 200
    # Inbound: sample 05 — verify aud, gunzip, size as number, b16decode(key[2:]) without .upper()
    provider_sim.http.post(customer_path(hooked) + "/attachment",
                           json={"name": "a.pdf", "mimeType": "application/pdf", "data": base64.b64encode(plaintext).decode()})
    provider_sim.advance(1)
    request = hooked.receiver.wait_for(2)[1]  # type: ignore[attr-defined]
    jwt.decode(request.header("authorization")[7:], base64.b64decode(hooked.secret_b64), audience=hooked.msp_id,
               algorithms=["HS256"])
    message = json.loads(gzip.decompress(request.body))
    att = message["attachments"][0]
    _, raw = call(base + "/preDownload", extra={
        "MMCS-Url": att["url"], "MMCS-Signature": base64.b64encode(base64.b16decode(att["signature"])).decode(),
        "MMCS-Owner": att["owner"]})
    with urllib.request.urlopen(json.loads(raw)["download-url"]) as resp:  # noqa: S310
        data = resp.read()
    assert len(data) == att["size"]
    assert aes_ctr(base64.b16decode(att["key"][2:]), data) == plaintext


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=4), max_leaves=15)
_keys = st.sampled_from(["v", "id", "type", "sourceId", "destinationId", "body", "attachments", "interactiveData",
                         "interactiveDataRef", "richLinkData"])
_bodies = st.dictionaries(_keys, _json | st.sampled_from(["text", "interactive", "richLink", "close", 1]), max_size=8)
# HTTP clients refuse header values with leading/trailing whitespace (h11 raises before sending): strip them.
_header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_bodies | _json, id_header=_header_values, dest=_header_values, raw=st.booleans(),
       binary=st.binary(max_size=50))
def test_message_never_5xx(provider_sim: Any, msp: MSP, body: Any, id_header: str, dest: str, raw: bool,
                           binary: bytes) -> None:
    headers = msp.headers(**{"id": id_header, "destination-id": dest})
    content = binary if raw else json.dumps(body).encode()
    r = msp.http.post("/v1/message", content=content, headers=headers)
    assert r.status_code < 500, r.text
    assert r.status_code in (200, 400, 404), r.text
    if r.status_code == 400:
        assert r.json()["message"]


def _interactive_samples() -> dict[str, tuple[dict[str, Any], str]]:
    """A valid value per built-in interactive feature, and the customer action that answers it."""
    import test_interactive as samples

    picker = {"sections": [{"title": "S", "order": 0, "multipleSelection": True, "items": [
        {"identifier": "1", "title": "A", "order": 0, "style": "icon", "imageIdentifier": "1"},
        {"identifier": "2", "title": "B", "order": 1, "style": "default"}]}]}
    auth = {"oauth2": {"responseType": "code", "scope": ["email"], "state": "s", "clientSecret": "c",
                       "responseEncryptionKey": base64.b64encode(b"\x04" + bytes(64)).decode()}}
    return {"listPicker": (picker, "list-picker"), "event": (samples.EVENT, "time-picker"),
            "quick-reply": (samples.QUICK, "quick-reply"), "payment": (samples.PAYMENT, "apple-pay"),
            "dynamic": (samples.FORM, "form"), "authenticate": (auth, "authentication")}


def _valid_message(msp: MSP, feature: str) -> tuple[dict[str, Any], str]:
    """A valid interactive message of ``feature`` (with the image its list picker refers to), and the customer
    action that answers it."""
    value, action = _interactive_samples()[feature]
    images = [{"identifier": "1", "data": base64.b64encode(PNG).decode()}] if feature == "listPicker" else None
    return msp.interactive(feature, value, images=images), action


_ANSWERS = [{}, {"selections": ["1"]}, {"selections": ["1", "2"]}, {"timeslot": "1"}, {"item": "2"},
            {"success": False}, {"values": {"p2": "Bob"}}, {"selections": "x"}, {"timeslot": 7}, []]
# One value of each JSON type, and a few shapes: type confusion is what the checks behind the schema meet.
_REPLACEMENTS = [None, True, 0, -1, "", "x", [], {}, [1], ["1"], [{}], {"x": 1}, [{"identifier": {}}],
                 {"items": True}]


@pytest.mark.parametrize("feature", sorted(_interactive_samples()))
def test_every_part_of_an_interactive_message_swapped_or_removed_never_5xx(provider_sim: Any, msp: MSP,
                                                                          feature: str) -> None:
    """Each part of a valid message (every JSON path) replaced by each value above, or removed: exhaustive for
    single-point type confusion, deterministic. Accepted ones are answered by the customer and read back."""
    valid, action = _valid_message(msp, feature)
    accepted = 0
    variants = swapped_or_removed(valid["interactiveData"], _REPLACEMENTS)
    for n, (path, replacement, interactive) in enumerate(variants):
        body = {**valid, "id": str(uuid.uuid4()), "interactiveData": interactive}
        r = msp.send(body)
        assert r.status_code < 500, (path, replacement, r.text)
        if r.status_code == 200:
            accepted += 1
            if accepted % 4 == 1:  # answering every one would make this slow; the mix still covers each kind
                for kind in (action, "interactive"):
                    a = provider_sim.http.post(customer_path(msp) + f"/answer/{kind}",
                                               json=_ANSWERS[n % len(_ANSWERS)])
                    assert a.status_code < 500, (path, replacement, kind, a.text)
    assert accepted, "no variant was accepted: the sample itself is invalid"
    assert provider_sim.http.post("/_sim/clock/advance", json={"seconds": 5}).status_code == 200
    for direction in ("received", "sent"):
        d = provider_sim.http.get(f"/_sim/business-chat/customers/{msp.customer}/device",
                                  params={"direction": direction})
        assert d.status_code == 200, d.text


_VALID_ANSWERS = {"list-picker": {"items": ["1", "2"], "choose": "first"}, "time-picker": {"timeslot": "1"},
                  "quick-reply": {"item": "2"}, "authentication": {"result": "fail", "token": "t", "error": "denied"},
                  "apple-pay": {"network": "Visa", "type": "Debit", "shippingContact": {"locality": "X"},
                                "approve": True},
                  "form": {"answers": {"p1": ["a"], "p2": "Bob"}}}


@pytest.mark.parametrize("feature", sorted(_interactive_samples()))
def test_every_part_of_a_customer_answer_swapped_or_removed_never_5xx(provider_sim: Any, hooked: MSP,
                                                                     provider_sim_receiver: Any,
                                                                     feature: str) -> None:
    """The simulated customer's answer to a valid message, each part of a valid answer body replaced by each
    value or removed (the same sweep as the message's): a 400 that says why, or the reply; never a 5xx."""
    provider_sim.http.post(f"/_sim/business-chat/businesses/{hooked.business}",
                           json={"paymentGatewayUrl": provider_sim_receiver.url + "/paymentGateway"})
    message, action = _valid_message(hooked, feature)
    answer = _VALID_ANSWERS[action]
    answered = 0
    for path, replacement, body in [((), answer, answer), *swapped_or_removed(answer, _REPLACEMENTS)]:
        assert hooked.send({**message, "id": str(uuid.uuid4())}).status_code == 200
        r = provider_sim.http.post(customer_path(hooked) + f"/answer/{action}", json=body)
        assert r.status_code < 500, (path, replacement, r.text)
        answered += r.status_code == 200
    assert answered, "not even the valid answer was taken"
    assert provider_sim.http.post("/_sim/clock/advance", json={"seconds": 5}).status_code == 200
