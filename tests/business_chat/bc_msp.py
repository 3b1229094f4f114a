"""An MSP written the way Apple's samples write one: real JWTs, real AES-256-CTR, real gzip."""
from __future__ import annotations

import base64
import gzip
import json
import os
import time
import uuid
from typing import Any

import httpx2 as httpx
import jwt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BUILTIN_BID = ("com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:"
               "com.apple.icloud.apps.messages.business.extension")
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def aes_ctr(key: bytes, data: bytes) -> bytes:
    c = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return c.update(data) + c.finalize()


class MSP:
    def __init__(self, sim: Any) -> None:
        info = sim.http.get("/_sim/business-chat").json()
        self.http: httpx.Client = sim.http
        self.sim = sim
        self.msp_id: str = info["mspId"]
        self.secret_b64: str = info["secret"]
        self.secret = base64.b64decode(self.secret_b64)
        self.business: str = info["businesses"][0]
        customers = sim.http.get("/_sim/business-chat/customers").json()["customers"]
        self.customer: str = customers[0]["id"]
        self.customer_two: str = customers[1]["id"]

    def token(self, **claims: Any) -> str:
        payload = {"iss": self.msp_id, "iat": int(time.time()), **claims}
        return jwt.encode(payload, self.secret, algorithm="HS256")

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}", "source-id": self.business, **extra}

    def envelope(self, kind: str, to: str | None = None, **fields: Any) -> dict[str, Any]:
        return {"v": 1, "id": str(uuid.uuid4()), "type": kind, "sourceId": self.business,
                "destinationId": to or self.customer, **fields}

    def send(self, body: dict[str, Any], path: str = "/v1/message", **headers: str) -> httpx.Response:
        h = self.headers(**{"id": str(body.get("id", "")), "destination-id": str(body.get("destinationId", "")),
                            "content-type": "application/json"})
        h.update(headers)
        return self.http.post(path, content=json.dumps(body).encode(), headers=h)

    def send_text(self, text: str, to: str | None = None) -> httpx.Response:
        return self.send(self.envelope("text", to, body=text))

    def interactive(self, feature: str, value: Any, *, to: str | None = None, images: list[Any] | None = None,
                    received: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"version": "1.0", "requestIdentifier": str(uuid.uuid4()), feature: value}
        if images:
            data["images"] = images
        idata = {"bid": BUILTIN_BID, "data": data, "receivedMessage": received or {"title": "Choose"},
                 "replyMessage": {"title": "Thanks"}, **extra}
        return self.envelope("interactive", to, interactiveData=idata)

    # -- attachments --------------------------------------------------------------------------------------------

    def upload(self, plaintext: bytes, key: bytes | None = None) -> tuple[dict[str, Any], bytes]:
        key = key or os.urandom(32)
        ct = aes_ctr(key, plaintext)
        pre = self.http.get("/v1/preUpload", headers=self.headers(**{"MMCS-Size": str(len(ct))}))
        assert pre.status_code == 200, pre.text
        urls = pre.json()
        up = httpx.post(urls["upload-url"], content=ct, headers={"content-type": "application/octet-stream"})
        assert up.status_code == 200, up.text
        answer = up.json()["singleFile"]
        checksum = answer["fileChecksum"]
        # Our choice beyond Apple's documented fileChecksum: the stored size and an opaque receipt.
        assert answer["size"] == len(ct) and isinstance(answer["receipt"], str) and answer["receipt"], answer
        att = {"name": "x.png", "mimeType": "image/png", "size": str(len(ct)), "signature-base64": checksum,
               "url": urls["mmcs-url"], "owner": urls["mmcs-owner"], "key": "00" + key.hex()}
        return att, key

    def download(self, ref: dict[str, Any]) -> bytes:
        """preDownload → download → decrypt, as Apple's sample 05/12 does it."""
        sig = ref.get("signature") or ref.get("mmcs-signature-hex")
        headers = self.headers(**{"MMCS-Url": ref.get("url") or ref["mmcs-url"],
                                  "MMCS-Owner": ref.get("owner") or ref["mmcs-owner"],
                                  "MMCS-Signature": base64.b64encode(base64.b16decode(sig)).decode()})
        pre = self.http.get("/v1/preDownload", headers=headers)
        assert pre.status_code == 200, pre.text
        ct = httpx.get(pre.json()["download-url"]).content
        key = ref.get("key") or ref["decryption-key"]
        return aes_ctr(base64.b16decode(key[2:]), ct)

    def resolve_idr(self, ref: dict[str, Any]) -> dict[str, Any]:
        blob = self.download(ref)
        response = self.http.post("/v1/decodePayload", content=blob,
                                  headers=self.headers(bid=ref["bid"], accept="*/*"))
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def verify_webhook(request: Any, msp: MSP) -> dict[str, Any]:
    """What an MSP's /message endpoint does: verify the JWT (aud = MSP id) and gunzip the body."""
    token = request.header("authorization").split(" ", 1)[1]
    jwt.decode(token, msp.secret, algorithms=["HS256"], audience=msp.msp_id)
    assert request.header("content-encoding") == "gzip"
    body = json.loads(gzip.decompress(request.body))
    assert request.header("id") == body["id"]
    assert request.header("source-id") == body["sourceId"]
    assert request.header("destination-id") == body["destinationId"] == msp.business
    assert request.header("device-agent")
    assert request.header("capability-list") is not None
    assert request.path == "/message"
    return body  # type: ignore[no-any-return]


# Shared by the test modules; kept out of conftest.py, whose module name other test folders share.
def customer_path(msp: MSP, customer: str | None = None) -> str:
    return f"/_sim/business-chat/businesses/{msp.business}/customers/{customer or msp.customer}"


def device(msp: MSP, customer: str | None = None, direction: str = "received") -> list[dict[str, Any]]:
    r = msp.http.get(f"/_sim/business-chat/customers/{customer or msp.customer}/device",
                     params={"direction": direction})
    assert r.status_code == 200, r.text
    return r.json()["messages"]  # type: ignore[no-any-return]


def create_customer(sim: Any, **fields: Any) -> dict[str, Any]:
    """A simulated customer created at runtime (POST /_sim/business-chat/customers)."""
    r = sim.http.post("/_sim/business-chat/customers", json=fields)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]
