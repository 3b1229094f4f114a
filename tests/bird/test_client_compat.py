"""Requests that code written against Bird makes and the digest says Bird accepts (or refuses) the way asserted
here: each case was found by comparing the simulator with the digest, request by request."""
from __future__ import annotations

import uuid

import pytest

TEXT = {"type": "text", "text": {"text": "hello"}}


def _batch(sim, items):
    path = sim.messages_path().rsplit("/messages", 1)[0] + "/batch/messages"
    return sim.http.post(path, json={"messageRequests": items}, headers=sim.bird_headers)


def _batch_messages(sim, batch_id):
    r = sim.http.get(sim.messages_path(), params={"batchId": batch_id, "limit": 100}, headers=sim.bird_headers)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def test_batch_item_naming_an_unknown_contact_is_rejected_alone(provider_sim):
    good = {"receiver": {"contacts": [{"identifierValue": "+15551239999"}]}, "body": TEXT, "reference": "good"}
    ghost = {"receiver": {"contacts": [{"id": str(uuid.uuid4())}]}, "body": TEXT, "reference": "ghost"}
    r = _batch(provider_sim, [good, ghost])
    assert r.status_code == 202, r.text
    by_ref = {m["reference"]: m for m in _batch_messages(provider_sim, r.json()["batchId"])}
    assert by_ref["good"]["status"] == "accepted"
    assert by_ref["ghost"]["status"] == "rejected"
    assert by_ref["ghost"]["failure"]["code"] == 11002 and "does not exist" in by_ref["ghost"]["reason"]
    # A single send naming the same contact is still a 422 (nothing is stored).
    r = provider_sim.http.post(provider_sim.messages_path(), json=ghost, headers=provider_sim.bird_headers)
    assert r.status_code == 422 and ".receiver.contacts[0].id" in r.json()["details"]


@pytest.mark.parametrize("bad", [
    {"receiver": [1], "body": TEXT},
    {"receiver": {"contacts": "x"}, "body": TEXT},
    {"receiver": {"contacts": [["+15551230000"]]}, "body": TEXT},
    {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]}, "body": TEXT, "notification": ["a"]},
    {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]}, "body": TEXT, "tags": 7},
    {"receiver": {"contacts": [{"identifierValue": 5}]}, "body": TEXT, "meta": [], "reference": {}},
])
def test_malformed_batch_items_become_rejected_messages(provider_sim, bad):
    good = {"receiver": {"contacts": [{"identifierValue": "+15551239998"}]}, "body": TEXT}
    r = _batch(provider_sim, [good, bad])
    assert r.status_code == 202, r.text
    statuses = sorted(m["status"] for m in _batch_messages(provider_sim, r.json()["batchId"]))
    assert statuses == ["accepted", "rejected"]


def test_read_only_key_cannot_send_or_reach_other_resources(provider_sim):
    readonly = provider_sim.info()["bird"]["accessKeys"][1]
    assert readonly["allowedMethods"] == ["GET"]
    headers = {"Authorization": f"AccessKey {readonly['key']}"}
    msg = provider_sim.send_sms("+15551230010")
    body = {"receiver": {"contacts": [{"identifierValue": "+15551230011"}]}, "body": TEXT}
    r = provider_sim.http.post(provider_sim.messages_path(), json=body, headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "Forbidden" and "POST" in r.json()["message"]
    assert provider_sim.http.get(provider_sim.messages_path(), headers=headers).status_code == 200
    assert provider_sim.http.get(f"{provider_sim.messages_path()}/{msg['id']}", headers=headers).status_code == 200
    # One segment per '*': the interactions of a message are another resource in Bird's policies.
    r = provider_sim.http.get(f"{provider_sim.messages_path()}/{msg['id']}/interactions", headers=headers)
    assert r.status_code == 403
    r = provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}", headers=headers)
    assert r.status_code == 403
    r = provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}", headers=provider_sim.bird_headers)
    assert r.status_code == 200 and r.json()["id"] == provider_sim.workspace_id


def test_template_null_is_a_body_send(provider_sim):
    body = {"receiver": {"contacts": [{"identifierValue": "+15551230012"}]}, "body": TEXT, "template": None}
    r = provider_sim.http.post(provider_sim.messages_path(), json=body, headers=provider_sim.bird_headers)
    assert r.status_code == 202, r.text
    assert r.json()["body"] == TEXT and "template" not in r.json()
    r = provider_sim.http.post(provider_sim.messages_path(), json={**body, "body": None} | {"template": None},
                               headers=provider_sim.bird_headers)
    assert r.status_code == 422  # neither a body nor a template


@pytest.mark.parametrize("contact", [
    {"platformAddress": "+15551230013"},
    {"identifiers": [{"identifierKey": "phonenumber", "identifierValue": "+15551230013"}]},
])
def test_receiver_by_platform_address_or_identifiers(provider_sim, contact):
    body = {"receiver": {"contacts": [contact]}, "body": TEXT}
    r = provider_sim.http.post(provider_sim.messages_path(), json=body, headers=provider_sim.bird_headers)
    assert r.status_code == 202, r.text
    sent = r.json()["receiver"]["contacts"][0]
    assert sent["identifierValue"] == "+15551230013" and sent["id"]
    bad = {"receiver": {"contacts": [{"platformAddress": "0612"}]}, "body": TEXT}
    r = provider_sim.http.post(provider_sim.messages_path(), json=bad, headers=provider_sim.bird_headers)
    assert r.status_code == 422 and ".receiver.contacts[0].platformAddress" in r.json()["details"]


def test_values_bird_documents_no_bound_for(provider_sim):
    body = {"receiver": {"contacts": [{"identifierValue": "+15551230014"}]},
            "body": {"type": "text", "text": {"text": "x" * 5000}}, "reference": "r" * 300, "validity": 3_000_000}
    r = provider_sim.http.post(provider_sim.messages_path(), json=body, headers=provider_sim.bird_headers)
    assert r.status_code == 202, r.text
    r = provider_sim.http.post(provider_sim.messages_path(), json={**body, "validity": 2**70},
                               headers=provider_sim.bird_headers)
    assert r.status_code == 422 and ".validity" in r.json()["details"]


def test_message_list_filters_as_integrations_send_them(provider_sim):
    accepted = provider_sim.send_sms("+15551230015")
    provider_sim.send_sms("+15551230016")
    headers = provider_sim.bird_headers
    r = provider_sim.http.get(provider_sim.messages_path(), params={"limit": 1000}, headers=headers)
    assert r.status_code == 200 and len(r.json()["results"]) >= 2
    provider_sim.force_status(accepted["id"], "delivered")
    for query in ("status=accepted&status=delivered", "status=delivered&status=accepted",
                  "status=accepted,delivered"):
        r = provider_sim.http.get(f"{provider_sim.messages_path()}?{query}&limit=100", headers=headers)
        statuses = {m["status"] for m in r.json()["results"]}
        assert statuses == {"accepted", "delivered"}, (query, statuses)


@pytest.mark.parametrize("path", ["{messages}", "/workspaces/{ws}/contacts",
                                  "/workspaces/{ws}/webhook-subscriptions", "/workspaces/{ws}/channels"])
@pytest.mark.parametrize("token", ["WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAsMl0", "99999999999999999999999", "-1"])
def test_out_of_range_page_tokens_are_422(provider_sim, path, token):
    url = path.format(messages=provider_sim.messages_path(), ws=provider_sim.workspace_id)
    r = provider_sim.http.get(url, params={"pageToken": token}, headers=provider_sim.bird_headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "InvalidPayload" and "pageToken" in r.json()["details"]
    assert r.json()["message"].startswith("Invalid query parameters")


def test_presigned_upload_without_a_body_is_invalid_not_malformed(provider_sim):
    path = provider_sim.messages_path().rsplit("/messages", 1)[0] + "/presigned-upload"
    r = provider_sim.http.post(path, headers=provider_sim.bird_headers)
    assert r.status_code == 422 and ".contentType" in str(r.json()["details"]), r.text
    r = provider_sim.http.post(path, content=b"{", headers={**provider_sim.bird_headers,
                                                            "Content-Type": "application/json"})
    assert r.status_code == 400  # malformed JSON stays a 400


def test_interactions_carry_every_documented_field(provider_sim):
    msg = provider_sim.send_sms("+15551230017", "see https://example.com/x")
    provider_sim.bird_click(msg["id"], "https://example.com/x")
    r = provider_sim.http.get(f"{provider_sim.messages_path()}/{msg['id']}/interactions",
                              headers=provider_sim.bird_headers)
    assert r.status_code == 200
    (interaction,) = r.json()["results"]
    for key in ("id", "messageId", "channelId", "platformId", "type", "receiver", "createdAt", "details", "metadata",
                "context", "messageReference", "messagePartsCount", "messageTags", "messageCreatedAt",
                "bodyTemplateProjectId", "isFirstInteraction", "isFirstInteractionIncludingBots", "journey",
                "notification", "platformReferenceId"):
        assert key in interaction, key
