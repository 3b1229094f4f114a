"""Bird send: every validation rule answers 422 InvalidPayload with details keyed by a JSON path."""
from __future__ import annotations

import pytest

TEXT = {"type": "text", "text": {"text": "hello"}}


def send(sim, body, channel_id=None, headers=None):
    return sim.http.post(sim.messages_path(channel_id), json=body, headers=headers or sim.bird_headers)


def receiver(number="+15551230000"):
    return {"contacts": [{"identifierValue": number}]}


def assert_invalid(response, path, fragment):
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "InvalidPayload"
    assert path in body["details"], body
    assert any(fragment in m for m in body["details"][path]), body["details"][path]
    assert path in body["message"] or fragment in body["message"] or body["message"]


def test_202_returns_full_message(provider_sim):
    response = send(provider_sim, {"receiver": receiver(), "body": TEXT, "reference": "order-1", "tags": ["OTP", "Login"]})
    assert response.status_code == 202
    msg = response.json()
    for key in ("id", "channelId", "sender", "receiver", "status", "lastStatusAt", "createdAt", "updatedAt", "body"):
        assert key in msg
    assert msg["status"] == "accepted"
    assert msg["direction"] == "outgoing"
    assert msg["reference"] == "order-1"
    assert msg["tags"] == ["otp", "login"]
    assert msg["sender"]["connector"]["identifierValue"] == "+15550100001"
    contact = msg["receiver"]["contacts"][0]
    assert contact["identifierKey"] == "phonenumber" and contact["identifierValue"] == "+15551230000"
    assert len(contact["id"]) == 36
    assert msg["createdAt"].endswith("Z") and len(msg["createdAt"]) == 24


def test_unknown_top_level_property(provider_sim):
    assert_invalid(send(provider_sim, {"receiver": receiver(), "body": TEXT, "colour": "red"}), ".", '"colour" is unsupported')


def test_unknown_contact_property_is_keyed_on_the_contact(provider_sim):
    body = {"receiver": {"contacts": [{"identifierValue": "+15551230000", "listId": "x"}]}, "body": TEXT}
    assert_invalid(send(provider_sim, body), ".receiver.contacts[0]", 'property "listId" is unsupported')


def test_contacts_must_be_array(provider_sim):
    body = {"receiver": {"contacts": {"identifierValue": "+15551230000"}}, "body": TEXT}
    assert_invalid(send(provider_sim, body), ".receiver.contacts", "must be an array")


def test_receiver_required(provider_sim):
    assert_invalid(send(provider_sim, {"body": TEXT}), ".receiver", "required")


def test_body_xor_template(provider_sim):
    assert_invalid(send(provider_sim, {"receiver": receiver()}), ".body", "exactly one of body or template")
    both = {"receiver": receiver(), "body": TEXT,
            "template": {"projectId": "0d1f2c3b-0000-4000-8000-000000000001", "version": "latest", "locale": "en"}}
    assert_invalid(send(provider_sim, both), ".template", "cannot be used together")


def test_template_send_accepted(provider_sim):
    body = {"receiver": receiver(), "template": {"projectId": "0d1f2c3b-0000-4000-8000-000000000001",
                                                 "version": "latest", "locale": "en",
                                                 "parameters": [{"type": "string", "key": "name", "value": "Ana"}]}}
    response = send(provider_sim, body)
    assert response.status_code == 202, response.text
    assert response.json()["template"]["projectId"] == body["template"]["projectId"]


def test_empty_text(provider_sim):
    assert_invalid(send(provider_sim, {"receiver": receiver(), "body": {"type": "text", "text": {"text": ""}}}),
                   ".body.text.text", "at least 1")


def test_too_many_tags(provider_sim):
    body = {"receiver": receiver(), "body": TEXT, "tags": [f"t{i}" for i in range(11)]}
    assert_invalid(send(provider_sim, body), ".tags", "at most 10")


def test_bad_tag_characters(provider_sim):
    assert_invalid(send(provider_sim, {"receiver": receiver(), "body": TEXT, "tags": ["no/slash"]}), ".tags[0]",
                   "does not match")


def test_scheduled_too_far(provider_sim):
    now = provider_sim.clock()["nowMs"]
    from simulator.core.clock import iso_ms

    body = {"receiver": receiver(), "body": TEXT, "scheduledFor": iso_ms(now + 36 * 86400 * 1000)}
    assert_invalid(send(provider_sim, body), ".scheduledFor", "35 days")


def test_scheduled_not_a_date(provider_sim):
    assert_invalid(send(provider_sim, {"receiver": receiver(), "body": TEXT, "scheduledFor": "tomorrow"}),
                   ".scheduledFor", "RFC 3339")


def test_image_on_sms_only_channel(provider_sim):
    body = {"receiver": receiver("+31612345678"), "body": {"type": "image", "image": {"images": [
        {"mediaUrl": "https://example.com/a.png"}]}}}
    assert_invalid(send(provider_sim, body, channel_id=provider_sim.channel_id(mms=False)), ".body.type", "MMS-capable")


def test_mms_only_to_us_ca(provider_sim):
    body = {"receiver": receiver("+31612345678"), "body": {"type": "image", "image": {"images": [
        {"mediaUrl": "https://example.com/a.png"}]}}}
    assert_invalid(send(provider_sim, body, channel_id=provider_sim.channel_id(mms=True)),
                   ".receiver.contacts[0].identifierValue", "US/CA")


def test_mms_max_ten_media(provider_sim):
    images = [{"mediaUrl": f"https://example.com/{i}.png"} for i in range(11)]
    body = {"receiver": receiver(), "body": {"type": "image", "image": {"images": images}}}
    assert_invalid(send(provider_sim, body, channel_id=provider_sim.channel_id(mms=True)), ".body.image.images",
                   "at most 10")


def test_mms_accepted_on_mms_channel(provider_sim):
    body = {"receiver": receiver(), "body": {"type": "file", "file": {"files": [
        {"mediaUrl": "https://example.com/v.mp4", "contentType": "video/mp4"}], "text": "clip"}}}
    response = send(provider_sim, body, channel_id=provider_sim.channel_id(mms=True))
    assert response.status_code == 202, response.text


def test_file_needs_content_type(provider_sim):
    body = {"receiver": receiver(), "body": {"type": "file", "file": {"files": [{"mediaUrl": "https://e.com/x"}]}}}
    assert_invalid(send(provider_sim, body), ".body.file.files[0].contentType", "required")


def test_one_receiver_for_sms(provider_sim):
    body = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}, {"identifierValue": "+15551230001"}]},
            "body": TEXT}
    assert_invalid(send(provider_sim, body), ".receiver.contacts", "exactly one receiver")


@pytest.mark.parametrize("number", ["0612345678", "+0123456789", "+1 555 123", "12345", "+1234567890123456"])
def test_e164_required(provider_sim, number):
    assert_invalid(send(provider_sim, {"receiver": receiver(number), "body": TEXT}),
                   ".receiver.contacts[0].identifierValue", "E.164")


def test_body_type_must_match_payload(provider_sim):
    body = {"receiver": receiver(), "body": {"type": "image", "text": {"text": "x"}}}
    response = send(provider_sim, body)
    assert response.status_code == 422
    assert ".body.image" in response.json()["details"] or ".body.text" in response.json()["details"]


def test_unsupported_body_type_for_sms(provider_sim):
    body = {"receiver": receiver(), "body": {"type": "location", "location": {"coordinates": {"latitude": 1,
                                                                                              "longitude": 2}}}}
    assert_invalid(send(provider_sim, body), ".body.type", "not supported on SMS")


def test_cap_frequency_needs_marketing(provider_sim):
    assert_invalid(send(provider_sim, {"receiver": receiver(), "body": TEXT, "capFrequency": True}),
                   ".capFrequency", "marketing")


def test_validity_must_be_non_negative_integer(provider_sim):
    assert_invalid(send(provider_sim, {"receiver": receiver(), "body": TEXT, "validity": -1}), ".validity", ">= 0")
    assert_invalid(send(provider_sim, {"receiver": receiver(), "body": TEXT, "validity": "60"}), ".validity",
                   "an integer")


def test_reply_to_type_enum(provider_sim):
    body = {"receiver": receiver(), "body": TEXT, "replyTo": {"id": "x", "type": "email"}}
    assert_invalid(send(provider_sim, body), ".replyTo.type", "one of")


def test_malformed_json_is_400(provider_sim):
    response = provider_sim.http.post(provider_sim.messages_path(), content=b'{"receiver": ',
                                      headers={**provider_sim.bird_headers, "content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequest"
    assert "not valid JSON" in response.json()["message"]


def test_non_object_body_is_422(provider_sim):
    response = provider_sim.http.post(provider_sim.messages_path(), json=[1, 2], headers=provider_sim.bird_headers)
    assert response.status_code == 422
    assert response.json()["details"] == {".": ["the request body must be a JSON object"]}


def test_wrong_content_type_is_415(provider_sim):
    response = provider_sim.http.post(provider_sim.messages_path(), content=b"receiver=x",
                                      headers={**provider_sim.bird_headers,
                                               "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert response.json()["code"] == "UnsupportedMediaType"


def test_body_over_limit_is_413(provider_sim):
    big = b'{"receiver": {"contacts": []}, "body": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    response = provider_sim.http.post(provider_sim.messages_path(), content=big,
                                      headers={**provider_sim.bird_headers, "content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "PayloadTooLarge"


def test_bad_utf8_is_400(provider_sim):
    response = provider_sim.http.post(provider_sim.messages_path(), content=b'{"a": "\xff\xfe"}',
                                      headers={**provider_sim.bird_headers, "content-type": "application/json"})
    assert response.status_code == 400
    assert "UTF-8" in response.json()["message"]


def test_rejected_send_stores_nothing(provider_sim):
    send(provider_sim, {"receiver": receiver("bad"), "body": TEXT})
    listing = provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers).json()
    assert listing["results"] == []


def test_unknown_workspace_and_channel_are_404(provider_sim):
    ws = provider_sim.workspace_id
    r = provider_sim.http.post(f"/workspaces/{ws}/channels/00000000-0000-4000-8000-000000000000/messages",
                               json={"receiver": receiver(), "body": TEXT}, headers=provider_sim.bird_headers)
    assert r.status_code == 404 and r.json()["code"] == "NotFound" and "channel" in r.json()["message"]
    r = provider_sim.http.get("/workspaces/00000000-0000-4000-8000-000000000000/channels",
                              headers=provider_sim.bird_headers)
    assert r.status_code == 404 and "workspace" in r.json()["message"]


def test_unknown_route_and_method(provider_sim):
    r = provider_sim.http.get("/workspaces/x/unknown", headers=provider_sim.bird_headers)
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
    r = provider_sim.http.delete(provider_sim.messages_path(), headers=provider_sim.bird_headers)
    assert r.status_code == 405 and r.json()["code"] == "MethodNotAllowed"


def test_auth(provider_sim):
    path = provider_sim.messages_path()
    body = {"receiver": receiver(), "body": TEXT}
    r = provider_sim.http.post(path, json=body)
    assert r.status_code == 401 and r.json()["code"] == "Unauthorized"
    r = provider_sim.http.post(path, json=body, headers={"Authorization": "AccessKey wrong-key-123"})
    assert r.status_code == 401
    r = provider_sim.http.post(path, json=body, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    r = provider_sim.http.post(path, json=body, headers={"Authorization": f"Bearer {provider_sim.bird_key}"})
    assert r.status_code == 202


def test_access_key_path_policy(provider_sim):
    readonly = provider_sim.info()["bird"]["accessKeys"][1]["key"]
    headers = {"Authorization": f"AccessKey {readonly}"}
    assert provider_sim.http.get(provider_sim.messages_path(), headers=headers).status_code == 200
    r = provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/channels", headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "Forbidden"


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


def test_one_422_names_every_problem_schema_and_bird_rules(provider_sim):
    """A misspelled field (the schema) and a non-E.164 receiver (Bird's rule) come back together, keyed by path."""
    response = provider_sim.http.post(
        provider_sim.messages_path(),
        json={"receiver": {"contacts": [{"identifierValue": "0612345678"}]},
              "body": {"type": "text", "text": {"text": "hi"}}, "referance": "typo"},
        headers=provider_sim.bird_headers)
    assert response.status_code == 422, response.text
    details = response.json()["details"]
    assert any("referance" in path or any("referance" in m for m in messages) for path, messages in details.items())
    assert any("E.164" in m for m in details.get(".receiver.contacts[0].identifierValue", [])), details


def test_bird_rules_look_only_at_what_is_typed_right(provider_sim):
    """Wrong types everywhere the rules look: the schema reports them, the rules do not trip over them."""
    for body in ({"receiver": "x", "body": {"type": "text", "text": {"text": "hi"}}},
                 {"receiver": {"contacts": ["+15551230000", 7]}, "body": {"type": "image", "image": "x"}},
                 {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]}, "body": {"type": "text",
                  "text": {"text": "hi"}}, "scheduledFor": 12, "capFrequency": True, "meta": "m"}):
        response = provider_sim.http.post(provider_sim.messages_path(), json=body, headers=provider_sim.bird_headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["details"], body
