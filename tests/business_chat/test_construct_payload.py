"""POST /v1/constructPayload (beta at Apple): an App Clip rich link from its URL, sent as richLinkDataRef."""
from __future__ import annotations

import gzip
import json
import os
from typing import Any

import pytest
from bc_msp import MSP, aes_ctr, device

CLIP_WORLD = os.path.join(os.path.dirname(__file__), "app-clip-world.yaml")


def construct(msp: MSP, url: str, **extra_headers: str) -> Any:
    body = {"type": "link", "link": {"url": url, "storeRegion": "US"}, "version": 1.0}
    return msp.http.post("/v1/constructPayload", content=json.dumps(body),
                         headers={"Authorization": f"Bearer {msp.token()}", "content-type": "application/json",
                                  **extra_headers})


def test_app_clip_link_is_built_sent_and_shown(provider_sim: Any, msp: MSP) -> None:
    r = construct(msp, "https://appclip.example.com/order?p=1")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["version"] == "1.0"
    ref = out["richLinkDataRef"]
    assert set(ref) == {"title", "signature-base64", "size", "url", "owner", "key"}
    assert ref["title"] == "App Clip · appclip.example.com"
    assert ref["key"].startswith("00") and len(ref["key"]) == 66

    # The ref points at a real encrypted blob: preDownload + download + the key give the link back.
    got = msp.http.get("/v1/preDownload", headers={"Authorization": f"Bearer {msp.token()}",
                                                     "source-id": msp.business, "url": ref["url"],
                                                     "owner": ref["owner"], "signature": ref["signature-base64"]})
    assert got.status_code == 200, got.text
    blob = msp.http.get(got.json()["download-url"]).content
    assert len(blob) == ref["size"]
    link = json.loads(gzip.decompress(aes_ctr(bytes.fromhex(ref["key"][2:]), blob)))
    assert link == {"url": "https://appclip.example.com/order?p=1", "title": ref["title"], "appClip": True,
                    "storeRegion": "US"}

    sent = msp.send(msp.envelope("richLink", richLinkDataRef=ref))
    assert sent.status_code == 200, sent.text
    shown = device(msp)[-1]
    assert shown["type"] == "richLink"
    assert shown["richLink"] == {"url": "https://appclip.example.com/order?p=1", "title": ref["title"],
                                 "appClip": True}


@pytest.mark.parametrize("field,value,pointer", [
    ("owner", "Mnot-the-owner.0000", "/richLinkDataRef/owner"),
    ("url", "http://127.0.0.1:1/v1/mmcs/objects/Mnothing.0000", "/richLinkDataRef/url"),
    ("signature-base64", "gQAAAAAAAAAAAAAAAAAAAAAAAAAA", "/richLinkDataRef/signature-base64"),
    ("key", "00" + "AB" * 32, "/richLinkDataRef/key"),
])
def test_wrong_rich_link_ref_is_refused_with_its_pointer(provider_sim: Any, msp: MSP, field: str, value: str,
                                                         pointer: str) -> None:
    ref = construct(msp, "https://appclip.example.com/x").json()["richLinkDataRef"]
    r = msp.send(msp.envelope("richLink", richLinkDataRef={**ref, field: value}))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["pointer"] == pointer
    assert all(m["type"] != "richLink" for m in device(msp))  # nothing reached the phone


def test_an_interactive_data_ref_is_not_a_rich_link(provider_sim: Any, msp: MSP) -> None:
    picker = {"sections": [{"items": [{"identifier": "a", "title": "A"}]}]}
    sent = msp.send(msp.interactive("listPicker", picker), **{"include-data-ref": "true"})
    assert sent.status_code == 200, sent.text
    ref = sent.json()["dataRef"]
    r = msp.send(msp.envelope("richLink", richLinkDataRef={"url": ref["url"], "owner": ref["owner"]}))
    assert r.status_code == 400 and r.json()["errors"][0]["pointer"] == "/richLinkDataRef/url"


def test_construct_payload_refuses_bad_requests(provider_sim: Any, msp: MSP) -> None:
    body = {"type": "link", "link": {"url": "https://appclip.example.com/x"}}
    assert msp.http.post("/v1/constructPayload", json=body).status_code == 401
    for bad, pointer in (({"type": "card", "link": {"url": "https://a.example"}}, "/type"),
                         ({"type": "link", "link": {"url": "http://plain.example/x"}}, "/link/url"),
                         ({"type": "link", "link": {"url": "https://a.example", "storeRegion": "USA"}},
                          "/link/storeRegion"),
                         ({"type": "link"}, "/link")):
        r = msp.http.post("/v1/constructPayload", json=bad, headers={"Authorization": f"Bearer {msp.token()}"})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["errors"][0]["pointer"].startswith(pointer), (bad, r.json())
    r = construct(msp, "https://[unbalanced/clip")  # urlsplit raises on it; still a 200, never a 5xx
    assert r.status_code == 200 and r.json()["richLinkDataRef"]["title"] == "App Clip · https://[unbalanced/clip"
    r = msp.http.post("/v1/constructPayload", content=b"{not json",
                      headers={"Authorization": f"Bearer {msp.token()}", "content-type": "application/json"})
    assert r.status_code == 400


@pytest.mark.provider_sim(config=CLIP_WORLD)
def test_only_configured_urls_have_an_app_clip(provider_sim: Any) -> None:
    msp = MSP(provider_sim)
    r = construct(msp, "https://elsewhere.example.com/coffee")
    assert r.status_code == 400 and r.json()["errors"][0]["pointer"] == "/link/url", r.text
    assert "no App Clip" in r.json()["message"]
    r = construct(msp, "https://appclip.example.com/coffee/menu")
    assert r.status_code == 200 and r.json()["richLinkDataRef"]["title"] == "App Clip · appclip.example.com"
    r = construct(msp, "https://appclip.example.com/coffee/order?size=L", **{"source-id": msp.business})
    assert r.status_code == 200 and r.json()["richLinkDataRef"]["title"] == "Order a coffee"
    assert provider_sim.http.get("/_sim/business-chat").json()["settings"]["appClipUrls"] == [
        "https://appclip.example.com/coffee", {"url": "https://appclip.example.com/coffee/order", "title": "Order a coffee"}]
