"""Helpers for the Bird webhook/media/inbound tests."""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

ORG = "0b3f5e2a-0000-4000-8000-00000000b1d0"


def bird_verify(signing_key: str, timestamp: str, url: str, body: bytes, signature_b64: str) -> bool:
    """Bird's published algorithm, re-implemented independently of simulator.bird.webhooks:
    HMAC-SHA256(key, ts + "\\n" + url + "\\n" + raw SHA-256(body)), base64, constant-time compare."""
    digest = hashlib.sha256(body).digest()
    message = b"".join([timestamp.encode("ascii"), b"\n", url.encode("utf-8"), b"\n", digest])
    expected = hmac.new(signing_key.encode("utf-8"), message, hashlib.sha256).digest()
    try:
        given = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(expected, given)


def subs_path(sim: Any, org_scoped: bool = True) -> str:
    prefix = f"/organizations/{ORG}" if org_scoped else ""
    return f"{prefix}/workspaces/{sim.workspace_id}/webhook-subscriptions"


def subscribe(sim: Any, url: str, event: str = "sms.outbound", filters: list[dict[str, str]] | None = None,
              signing_key: str | None = "test-signing-key", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"service": "channels", "event": event, "url": url, **extra}
    if filters is not None:
        body["eventFilters"] = filters
    if signing_key is not None:
        body["signingKey"] = signing_key
    response = sim.http.post(subs_path(sim), json=body, headers=sim.bird_headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def list_page(sim: Any, path: str | None = None, **params: Any) -> Any:
    """One page of a message listing (the channel's unless ``path``), asserting a 200."""
    r = sim.http.get(path or sim.messages_path(), params=params, headers=sim.bird_headers)
    assert r.status_code == 200, r.text
    return r.json()


def events_of(requests: list[Any]) -> list[tuple[str, str]]:
    out = []
    for r in requests:
        data = r.json()
        payload = data["payload"]
        out.append((data["event"], payload.get("status") or payload.get("type")))
    return out


@pytest.fixture
def receiver(provider_sim_receiver: Any) -> Any:
    return provider_sim_receiver
