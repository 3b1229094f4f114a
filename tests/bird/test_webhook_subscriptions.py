"""Notifications API: subscription CRUD on both paths, Bird's rules, and filter matching on real deliveries."""
from __future__ import annotations

import pytest

from tests.bird.conftest import ORG, events_of, subs_path, subscribe


def test_crud_on_both_paths_and_signing_key_only_on_create(provider_sim, receiver):
    created = subscribe(provider_sim, receiver.url + "/a", signing_key="k1",
                        filters=[{"key": "channelId", "value": provider_sim.channel_id()}], template="twilio")
    assert created["status"] == "active" and created["signingKey"] == "k1"
    assert created["organizationId"] == ORG and created["workspaceId"] == provider_sim.workspace_id
    assert created["template"] == "twilio"
    for org_scoped in (True, False):
        base = subs_path(provider_sim, org_scoped)
        one = provider_sim.http.get(f"{base}/{created['id']}", headers=provider_sim.bird_headers)
        assert one.status_code == 200 and "signingKey" not in one.json()
        listed = provider_sim.http.get(base, headers=provider_sim.bird_headers).json()
        assert [s["id"] for s in listed["results"]] == [created["id"]]
        assert "signingKey" not in listed["results"][0]
    base = subs_path(provider_sim, org_scoped=False)
    patched = provider_sim.http.patch(f"{base}/{created['id']}", json={"status": "inactive", "url": receiver.url + "/b"},
                                      headers=provider_sim.bird_headers)
    assert patched.status_code == 200
    assert patched.json()["status"] == "inactive" and patched.json()["url"] == receiver.url + "/b"
    assert "signingKey" not in patched.json()
    deleted = provider_sim.http.delete(f"{base}/{created['id']}", headers=provider_sim.bird_headers)
    assert deleted.status_code == 204
    gone = provider_sim.http.get(f"{base}/{created['id']}", headers=provider_sim.bird_headers)
    assert gone.status_code == 404 and gone.json()["code"] == "NotFound"


def test_auth_org_and_workspace_checks(provider_sim):
    body = {"service": "channels", "event": "sms.inbound", "url": "https://hooks.example.com/bird"}
    assert provider_sim.http.post(subs_path(provider_sim), json=body).status_code == 401
    wrong_org = subs_path(provider_sim).replace(ORG, "0b3f5e2a-0000-4000-8000-000000000000")
    assert provider_sim.http.post(wrong_org, json=body, headers=provider_sim.bird_headers).status_code == 404
    wrong_ws = "/workspaces/0b3f5e2a-0000-4000-8000-000000000000/webhook-subscriptions"
    assert provider_sim.http.get(wrong_ws, headers=provider_sim.bird_headers).status_code == 404
    readonly = {"Authorization": "AccessKey sim-bird-readonly-key-0002"}
    assert provider_sim.http.get(subs_path(provider_sim), headers=readonly).status_code == 403


@pytest.mark.parametrize("url, ok", [
    ("https://hooks.example.com/bird", True),
    ("http://localhost:3000/webhooks/bird", True),
    ("http://127.0.0.1:8080/x", True),
    ("http://[::1]:8080/x", True),
    ("https://localhost/x", True),
    ("http://hooks.example.com/bird", False),
    ("https://10.0.0.5/bird", False),
    ("ftp://localhost/x", False),
    ("not a url", False),
])
def test_url_rules(provider_sim, url, ok):
    body = {"service": "channels", "event": "sms.outbound", "url": url}
    response = provider_sim.http.post(subs_path(provider_sim), json=body, headers=provider_sim.bird_headers)
    assert response.status_code == (201 if ok else 422), response.text
    if not ok:
        assert ".url" in response.json()["details"]


@pytest.mark.parametrize("body, path", [
    ({"service": "channels", "url": "https://h.example.com/x"}, ".event"),
    ({"service": "chanels", "event": "sms.outbound", "url": "https://h.example.com/x"}, ".service"),
    ({"service": "channels", "event": "sms.outbund", "url": "https://h.example.com/x"}, ".event"),
    ({"service": "channels", "event": "whatsapp.inbond", "url": "https://h.example.com/x"}, ".event"),
    ({"service": "channels", "event": "sms.outbound", "url": "https://h.example.com/x", "extra": 1}, "."),
    ({"service": "channels", "event": "sms.outbound", "url": "https://h.example.com/x",
      "eventFilters": [{"key": "color", "value": "red"}]}, ".eventFilters[0].key"),
    ({"service": "channels", "event": "sms.outbound", "url": "https://h.example.com/x",
      "eventFilters": [{"key": "messageStatus", "value": "done"}]}, ".eventFilters[0].value"),
    ({"service": "channels", "event": "sms.outbound", "url": "https://h.example.com/x",
      "eventFilters": [{"key": "channelId", "value": "7c0f4a8e-0000-4000-8000-00000000c001"},
                       {"key": "channelId", "value": "7c0f4a8e-0000-4000-8000-00000000c002"}]}, ".eventFilters[1]"),
    ({"service": "channels", "event": "sms.outbound", "url": "https://h.example.com/x",
      "eventFilters": [{"key": "channelId", "value": "7c0f4a8e-0000-4000-8000-00000000cfff"}]},
     ".eventFilters[0].value"),
])
def test_create_validation(provider_sim, body, path):
    response = provider_sim.http.post(subs_path(provider_sim), json=body, headers=provider_sim.bird_headers)
    assert response.status_code == 422, response.text
    data = response.json()
    assert data["code"] == "InvalidPayload"
    assert any(key.startswith(path) for key in data["details"]), data


def test_five_per_identical_filter_set(provider_sim):
    filters = [{"key": "channelId", "value": provider_sim.channel_id()},
               {"key": "messageStatus", "value": "delivered"}]
    for i in range(5):
        subscribe(provider_sim, f"https://hooks{i}.example.com/bird", filters=list(reversed(filters)) if i % 2
                  else filters)
    body = {"service": "channels", "event": "sms.outbound", "url": "https://six.example.com/bird",
            "eventFilters": filters}
    sixth = provider_sim.http.post(subs_path(provider_sim), json=body, headers=provider_sim.bird_headers)
    assert sixth.status_code == 409 and "at most 5" in sixth.json()["message"]
    # Another filter set, or another event, is another bucket.
    subscribe(provider_sim, "https://six.example.com/bird", filters=filters[:1])
    subscribe(provider_sim, "https://six.example.com/bird", event="sms.inbound", filters=filters[:1])


def test_patch_validation(provider_sim):
    sub = subscribe(provider_sim, "https://hooks.example.com/bird")
    base = subs_path(provider_sim) + f"/{sub['id']}"
    for body in ({}, {"status": "paused"}, {"url": "http://example.com/x"}, {"event": "sms.inbound"}):
        response = provider_sim.http.patch(base, json=body, headers=provider_sim.bird_headers)
        assert response.status_code == 422, (body, response.text)
    unknown = provider_sim.http.patch(subs_path(provider_sim) + "/0b3f5e2a-0000-4000-8000-000000000000",
                                      json={"status": "inactive"}, headers=provider_sim.bird_headers)
    assert unknown.status_code == 404


def test_list_pages(provider_sim):
    ids = [subscribe(provider_sim, f"https://h{i}.example.com/x", event="sms.inbound",
                     filters=[{"key": "platformId", "value": f"p{i}"}])["id"] for i in range(3)]
    first = provider_sim.http.get(subs_path(provider_sim), params={"limit": 2}, headers=provider_sim.bird_headers).json()
    second = provider_sim.http.get(subs_path(provider_sim), params={"limit": 2, "pageToken": first["nextPageToken"]},
                                   headers=provider_sim.bird_headers).json()
    assert [s["id"] for s in first["results"] + second["results"]] == ids
    assert second["nextPageToken"] == ""


def test_filters_are_anded_and_inactive_subscriptions_are_silent(provider_sim, receiver):
    mms, nl = provider_sim.channel_id(mms=True), provider_sim.channel_id(mms=False)
    subscribe(provider_sim, receiver.url + "/all")
    subscribe(provider_sim, receiver.url + "/mms-delivered",
              filters=[{"key": "channelId", "value": mms}, {"key": "messageStatus", "value": "delivered"}])
    subscribe(provider_sim, receiver.url + "/nl", filters=[{"key": "channelId", "value": nl},
                                                           {"key": "platformId", "value": "sms-messagebird"}])
    subscribe(provider_sim, receiver.url + "/other-platform", filters=[{"key": "platformId", "value": "whatsapp"}])
    subscribe(provider_sim, receiver.url + "/interaction-type",
              filters=[{"key": "interactionType", "value": "clicked"}])
    off = subscribe(provider_sim, receiver.url + "/inactive")
    provider_sim.http.patch(subs_path(provider_sim) + f"/{off['id']}", json={"status": "inactive"},
                            headers=provider_sim.bird_headers)
    subscribe(provider_sim, receiver.url + "/inbound-only", event="sms.inbound")
    provider_sim.send_sms("+15551230000", channel_id=mms)
    provider_sim.send_sms("+31612345670", channel_id=nl)
    provider_sim.advance(10)
    got = receiver.wait_for(4 + 4 + 1 + 4)
    provider_sim.advance(1)
    by_path: dict[str, list[str]] = {}
    for r in receiver.requests:
        by_path.setdefault(r.path, []).append(r.json()["payload"]["status"])
    assert sorted(by_path) == ["/all", "/mms-delivered", "/nl"], by_path
    assert len(by_path["/all"]) == 8 and by_path["/mms-delivered"] == ["delivered"]
    assert sorted(by_path["/nl"]) == sorted(["accepted", "processing", "sent", "delivered"])
    assert len(got) == 13


def test_failed_status_filter_sees_failures_only(provider_sim, receiver):
    subscribe(provider_sim, receiver.url, filters=[{"key": "messageStatus", "value": "delivery_failed"}])
    provider_sim.send_sms("+15551230000")
    failing = provider_sim.send_sms("+15551230001")
    provider_sim.advance(10)
    got = receiver.wait_for(1)
    assert events_of(got) == [("sms.outbound", "delivery_failed")]
    payload = got[0].json()["payload"]
    assert payload["id"] == failing["id"] and payload["failure"]["code"] == 15005


def test_patch_cannot_exceed_the_cap(provider_sim):
    filters = [{"key": "messageStatus", "value": "delivered"}]
    for i in range(5):
        subscribe(provider_sim, f"https://hooks{i}.example.com/bird", filters=filters)
    other = subscribe(provider_sim, "https://six.example.com/bird")
    response = provider_sim.http.patch(subs_path(provider_sim) + f"/{other['id']}", json={"eventFilters": filters},
                                       headers=provider_sim.bird_headers)
    assert response.status_code == 409


def test_scoped_reset_removes_subscriptions_media_and_opt_outs(provider_sim, provider_sim_server, receiver):
    import httpx2 as httpx

    subscribe(provider_sim, receiver.url)
    ticket = provider_sim.http.post(f"/workspaces/{provider_sim.workspace_id}/presigned-upload",
                                    json={"contentType": "text/plain"}, headers=provider_sim.bird_headers).json()
    assert httpx.post(ticket["uploadUrl"], data=ticket["uploadFormData"],
                      files={"file": ("a.txt", b"hello")}).status_code == 204
    media_path = "/" + ticket["mediaUrl"].split("/", 3)[3]
    assert provider_sim.http.get(media_path, headers=provider_sim.bird_headers).content == b"hello"
    # Beside SQLite the bytes are a file; on PostgreSQL they are a row that the reset deletes with the rest.
    media_file = provider_sim_server.sim.media_dir / "bird" / ticket["mediaUrl"].rsplit("/", 1)[1]
    assert media_file.exists() == (provider_sim_server.sim.store.dialect == "sqlite")
    provider_sim.http.post("/_sim/bird/inbound", json={"channelId": provider_sim.channel_id(), "from": "+15551230099",
                                                       "text": "STOP"})
    provider_sim.reset(workspace=provider_sim.workspace_id)
    assert provider_sim.http.get(subs_path(provider_sim), headers=provider_sim.bird_headers).json()["results"] == []
    assert not media_file.exists()
    assert provider_sim.http.get(media_path, headers=provider_sim.bird_headers).status_code == 404
    assert provider_sim.http.get("/_sim/bird/opt-outs").json()["results"] == []
    receiver.clear()
    provider_sim.send_sms("+15551230099")
    provider_sim.advance(10)
    assert receiver.requests == []


def test_other_platforms_events_are_accepted_and_never_fire(provider_sim, receiver):
    """Integrations subscribe to <platform>.inbound for every platform (Pipedream does): Bird accepts them; no
    such channel exists here, so nothing arrives, while sms events still do."""
    other = subscribe(provider_sim, receiver.url + "/wa", event="whatsapp.inbound")
    assert other["event"] == "whatsapp.inbound" and other["status"] == "active"
    subscribe(provider_sim, receiver.url + "/sms", event="sms.inbound")
    provider_sim.bird_inbound("+15551230020", "hello")
    provider_sim.advance(1)
    got = receiver.wait_for(1)
    assert [r.path for r in got] == ["/sms"], [r.path for r in got]
    assert got[0].json()["event"] == "sms.inbound"
    queued = provider_sim.control("GET", "/_sim/outbox", params={"provider": "bird"})
    assert [d["url"] for d in queued["results"]] == [receiver.url + "/sms"], queued
