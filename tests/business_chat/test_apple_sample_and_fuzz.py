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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bc_msp import MSP, aes_ctr, customer_path


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
