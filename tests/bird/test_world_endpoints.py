"""Read calls client libraries make on start-up, answered from the seeded world; contacts."""
from __future__ import annotations


def get(sim, path, **params):
    r = sim.http.get(path, params=params, headers=sim.bird_headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_channels(provider_sim):
    ws = provider_sim.workspace_id
    channels = get(provider_sim, f"/workspaces/{ws}/channels")["results"]
    assert len(channels) == 3
    us = next(c for c in channels if c["identifier"] == "+15550100001")
    assert us["platformId"] == "sms-messagebird"
    assert us["capabilities"]["messaging"]["outgoing"]["mms"]["status"] == "active"
    nl = next(c for c in channels if c["identifier"].startswith("+31"))
    assert nl["capabilities"]["messaging"]["outgoing"]["mms"]["status"] == "inactive"
    one = get(provider_sim, f"/workspaces/{ws}/channels/{us['id']}")
    assert one == us
    page = get(provider_sim, f"/workspaces/{ws}/channels", limit=2)
    assert len(page["results"]) == 2 and page["nextPageToken"]
    rest = get(provider_sim, f"/workspaces/{ws}/channels", limit=2, pageToken=page["nextPageToken"])
    assert len(rest["results"]) == 1 and rest["nextPageToken"] == ""


def test_organization_workspaces_and_connectors(provider_sim):
    org = provider_sim.info()["bird"]["organizationId"]
    ws = provider_sim.workspace_id
    assert [w["id"] for w in get(provider_sim, f"/organizations/{org}/workspaces")["results"]] == [ws]
    assert get(provider_sim, f"/organizations/{org}/workspaces/{ws}")["organizationId"] == org
    r = provider_sim.http.get(f"/organizations/{ws}/workspaces", headers=provider_sim.bird_headers)
    assert r.status_code == 404
    connectors = get(provider_sim, f"/workspaces/{ws}/connectors")["results"]
    assert {c["channel"]["channelId"] for c in connectors} == {c["id"] for c in
                                                              provider_sim.info()["bird"]["workspaces"][0]["channels"]}
    assert "mms-outbound" in next(c for c in connectors if c["number"]["phoneNumber"] == "+15550100001")["number"][
        "capabilities"]
    assert get(provider_sim, f"/workspaces/{ws}/projects")["results"] == []
    events = {e["event"] for e in get(provider_sim, f"/workspaces/{ws}/available-webhooks")["results"]}
    assert {"sms.outbound", "sms.inbound", "sms.interaction"} <= events


def test_contact_auto_created_and_reused(provider_sim):
    first = provider_sim.send_sms("+15551230000")
    second = provider_sim.send_sms("+15551230000")
    other = provider_sim.send_sms("+15551230010")
    cid = first["receiver"]["contacts"][0]["id"]
    assert second["receiver"]["contacts"][0]["id"] == cid
    assert other["receiver"]["contacts"][0]["id"] != cid
    ws = provider_sim.workspace_id
    contact = get(provider_sim, f"/workspaces/{ws}/contacts/{cid}")
    assert contact["featuredIdentifiers"] == [{"key": "phonenumber", "value": "+15551230000"}]
    listing = get(provider_sim, f"/workspaces/{ws}/contacts")["results"]
    assert {c["id"] for c in listing} == {cid, other["receiver"]["contacts"][0]["id"]}
    r = provider_sim.http.get(f"/workspaces/{ws}/contacts/nope", headers=provider_sim.bird_headers)
    assert r.status_code == 404


def test_create_contact_then_send_by_contact_id(provider_sim):
    ws = provider_sim.workspace_id
    r = provider_sim.http.post(f"/workspaces/{ws}/contacts", headers=provider_sim.bird_headers,
                               json={"displayName": "Ana", "identifiers": [{"key": "phonenumber", "value": "+15551230020"}]})
    assert r.status_code == 201, r.text
    contact = r.json()
    assert contact["computedDisplayName"] == "Ana"
    dup = provider_sim.http.post(f"/workspaces/{ws}/contacts", headers=provider_sim.bird_headers,
                                 json={"identifiers": [{"key": "phonenumber", "value": "+15551230020"}]})
    assert dup.status_code == 409
    bad = provider_sim.http.post(f"/workspaces/{ws}/contacts", headers=provider_sim.bird_headers,
                                 json={"identifiers": [{"key": "fax", "value": "1"}]})
    assert bad.status_code == 422 and ".identifiers[0].key" in bad.json()["details"]
    sent = provider_sim.http.post(provider_sim.messages_path(), headers=provider_sim.bird_headers,
                                  json={"receiver": {"contacts": [{"id": contact["id"]}]},
                                        "body": {"type": "text", "text": {"text": "by id"}}})
    assert sent.status_code == 202, sent.text
    assert sent.json()["receiver"]["contacts"][0]["identifierValue"] == "+15551230020"
    missing = provider_sim.http.post(provider_sim.messages_path(), headers=provider_sim.bird_headers,
                                     json={"receiver": {"contacts": [{"id": "00000000-0000-4000-8000-000000000000"}]},
                                           "body": {"type": "text", "text": {"text": "x"}}})
    assert missing.status_code == 422 and ".receiver.contacts[0].id" in missing.json()["details"]


def test_control_plane_info_and_health(provider_sim):
    health = provider_sim.health()
    assert health["status"] == "ok" and health["clock"]["mode"] == "manual"
    info = provider_sim.info()
    assert info["bird"]["accessKeys"][0]["key"] == "sim-bird-access-key-0001"
    assert info["bird"]["workspaces"][0]["id"] == "5b4b2a1e-0000-4000-8000-00000000a001"
    r = provider_sim.http.get("/_sim/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"


def test_channel_list_filters(provider_sim):
    ws = provider_sim.workspace_id
    path = f"/workspaces/{ws}/channels"
    every = get(provider_sim, path)["results"]
    assert [c["id"] for c in get(provider_sim, path, reverse="true")["results"]] == [c["id"] for c in every][::-1]
    assert len(get(provider_sim, path, status="active")["results"]) == 3
    assert get(provider_sim, path, status="inactive,suspended")["results"] == []
    assert get(provider_sim, path, platform="whatsapp")["results"] == []
    assert len(get(provider_sim, path, platform="sms-messagebird")["results"]) == 3
    two = [every[0]["id"], every[2]["id"]]
    assert [c["id"] for c in get(provider_sim, path, channelIds=",".join(two))["results"]] == two
    assert len(get(provider_sim, path, limit=1000)["results"]) == 3  # the channel list allows pages of 1,000
    bad = provider_sim.http.get(path, params={"platform": "sms/../x"}, headers=provider_sim.bird_headers)
    assert bad.status_code == 422 and "platform" in bad.json()["details"]
