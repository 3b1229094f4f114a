"""Presigned S3-style uploads served by the simulator, downloads, MMS sends that reference simulator media."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import xml.etree.ElementTree as ET

import httpx2 as httpx
import pytest

from simulator.server import SimulatorServer
from simulator.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40 + b"\x00end"


def presign(sim, content_type="image/png", channel_id=None, variant="channel"):
    ws = sim.workspace_id
    if variant == "channel":
        path = f"/workspaces/{ws}/channels/{channel_id or sim.channel_id(mms=True)}/presigned-upload"
    elif variant == "workspace":
        path = f"/workspaces/{ws}/presigned-upload"
    elif variant == "conversation":
        path = f"/workspaces/{ws}/conversations/3f0c8a3e-9a3b-4a9e-8c6b-5d2f6c7e1a10/presigned-upload"
    else:
        path = f"/workspaces/{ws}/channel-media/presigned-upload"
    response = sim.http.post(path, json={"contentType": content_type}, headers=sim.bird_headers)
    assert response.status_code == 200, response.text
    return response.json()


def upload(ticket, data=PNG, fields=None, file_type="image/png"):
    form = dict(ticket["uploadFormData"]) if fields is None else fields
    return httpx.post(ticket["uploadUrl"], data=form, files={"file": ("pic.png", data, file_type)}, timeout=30)


def s3_error(response):
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Error"
    return root.findtext("Code"), root.findtext("Message")


def media_path(url):
    return "/" + url.split("/", 3)[3]


def test_round_trip_byte_for_byte(provider_sim):
    ticket = presign(provider_sim)
    assert ticket["uploadMethod"] == "POST"
    fields = ticket["uploadFormData"]
    assert fields["Content-Type"] == "image/png" and fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert "expiration" in policy and {"key": fields["key"]} in policy["conditions"]
    assert ticket["mediaUrl"].startswith(provider_sim.url + f"/workspaces/{provider_sim.workspace_id}/channels/")
    assert ticket["uploadUrl"].startswith(provider_sim.url)
    response = upload(ticket)
    assert response.status_code == 204, response.text
    got = provider_sim.http.get(media_path(ticket["mediaUrl"]), headers=provider_sim.bird_headers)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(PNG).hexdigest() and got.content == PNG


@pytest.mark.parametrize("variant", ["workspace", "channel-media", "conversation"])
def test_workspace_level_variants(provider_sim, variant):
    ticket = presign(provider_sim, "application/pdf", variant=variant)
    assert "x-amz-meta-channel-id" not in ticket["uploadFormData"]
    assert upload(ticket, b"%PDF-1.4 hello", file_type="application/pdf").status_code == 204
    got = provider_sim.http.get(media_path(ticket["mediaUrl"]), headers=provider_sim.bird_headers)
    assert got.status_code == 200 and got.content == b"%PDF-1.4 hello"
    assert got.headers["content-type"] == "application/pdf"


def test_large_upload_is_stored_as_a_file_beside_sqlite_and_in_postgresql(provider_sim, provider_sim_server,
                                                                         store_kind):
    blob = os.urandom(3 * 1024 * 1024)
    ticket = presign(provider_sim, "video/mp4")
    assert upload(ticket, blob, file_type="video/mp4").status_code == 204
    media_id = ticket["mediaUrl"].rsplit("/", 1)[1]
    sim = provider_sim_server.sim
    if store_kind == "sqlite":
        assert (sim.media_dir / "bird" / media_id).read_bytes() == blob
    else:  # a fleet on several hosts shares no directory: the bytes are in the database
        stored = provider_sim_server.call(sim.store.fetch_one("SELECT data FROM bird_media_bytes WHERE id=?",
                                                              (media_id,)))
        assert bytes(stored[0]) == blob and not (sim.media_dir / "bird" / media_id).exists()
    row = provider_sim_server.call(sim.store.fetch_one("SELECT size, sha256 FROM bird_media WHERE id=?", (media_id,)))
    assert row[0] == len(blob) and row[1] == hashlib.sha256(blob).hexdigest()
    got = provider_sim.http.get(media_path(ticket["mediaUrl"]), headers=provider_sim.bird_headers)
    assert got.content == blob


@pytest.mark.parametrize("tamper, code, status", [
    (lambda f: f.update(key=f["key"][:-1] + "0"), "AccessDenied", 403),
    (lambda f: f.update({"Content-Type": "image/gif"}), "AccessDenied", 403),
    (lambda f: f.update({"x-amz-meta-channel-id": "7c0f4a8e-0000-4000-8000-00000000c002"}), "AccessDenied", 403),
    (lambda f: f.pop("x-amz-date"), "AccessDenied", 403),
    (lambda f: f.update({"x-amz-meta-extra": "1"}), "AccessDenied", 403),
    (lambda f: f.update(policy=base64.b64encode(base64.b64decode(f["policy"]).replace(b'"acl":"private"',
                                                                                     b'"acl":"public"')).decode()),
     "SignatureDoesNotMatch", 403),
    (lambda f: f.update({"x-amz-signature": "0" * 64}), "SignatureDoesNotMatch", 403),
    (lambda f: f.update(policy="%%% not base64"), "InvalidPolicyDocument", 400),
    (lambda f: f.pop("policy"), "AccessDenied", 403),
    (lambda f: f.pop("x-amz-signature"), "InvalidArgument", 400),
])
def test_bad_policies_get_s3_errors(provider_sim, tamper, code, status):
    ticket = presign(provider_sim)
    fields = dict(ticket["uploadFormData"])
    tamper(fields)
    response = upload(ticket, fields=fields)
    assert response.status_code == status, response.text
    assert s3_error(response)[0] == code
    got = provider_sim.http.get(media_path(ticket["mediaUrl"]), headers=provider_sim.bird_headers)
    assert got.status_code == 404  # nothing stored


def test_expired_policy_on_the_simulator_clock(provider_sim):
    ticket = presign(provider_sim)
    provider_sim.advance(3601)
    response = upload(ticket)
    assert response.status_code == 403
    assert s3_error(response) == ("AccessDenied", "Invalid according to Policy: Policy expired.")


def test_missing_file_and_not_multipart(provider_sim):
    ticket = presign(provider_sim)
    no_file = httpx.post(ticket["uploadUrl"], data=ticket["uploadFormData"], files={"other": ("x", b"1")})
    assert no_file.status_code == 400 and s3_error(no_file)[0] == "InvalidArgument"
    as_json = httpx.post(ticket["uploadUrl"], json=ticket["uploadFormData"])
    assert as_json.status_code == 412 and s3_error(as_json)[0] == "PreconditionFailed"
    garbage = httpx.post(ticket["uploadUrl"], content=b"--x\r\nnonsense",
                         headers={"content-type": "multipart/form-data; boundary=x"})
    assert 400 <= garbage.status_code < 500


def test_presign_validation_and_auth(provider_sim):
    path = f"/workspaces/{provider_sim.workspace_id}/presigned-upload"
    assert provider_sim.http.post(path, json={"contentType": "image/png"}).status_code == 401
    for body in ({}, {"contentType": ""}, {"contentType": "png"}, {"contentType": "image/png", "x": 1}):
        response = provider_sim.http.post(path, json=body, headers=provider_sim.bird_headers)
        assert response.status_code == 422, body
    unknown = f"/workspaces/{provider_sim.workspace_id}/channels/7c0f4a8e-0000-4000-8000-00000000cfff/presigned-upload"
    assert provider_sim.http.post(unknown, json={"contentType": "image/png"},
                                  headers=provider_sim.bird_headers).status_code == 404


def test_downloads_need_a_key_and_a_known_id(provider_sim):
    ticket = presign(provider_sim)
    upload(ticket)
    path = media_path(ticket["mediaUrl"])
    assert provider_sim.http.get(path).status_code == 401
    base = path.rsplit("/", 1)[0]
    for bad in ("0b3f5e2a-0000-4000-8000-000000000000", "..%2F..%2Fetc%2Fpasswd", "%2E%2E", "..%5C..", "not-a-uuid"):
        response = provider_sim.http.get(f"{base}/{bad}", headers=provider_sim.bird_headers)
        assert response.status_code == 404, bad
        assert response.json()["code"] == "NotFound"
    other_channel = path.replace(provider_sim.channel_id(mms=True), provider_sim.channel_id(mms=False))
    assert provider_sim.http.get(other_channel, headers=provider_sim.bird_headers).status_code == 404
    pending = presign(provider_sim)  # ticket issued, never uploaded
    assert provider_sim.http.get(media_path(pending["mediaUrl"]), headers=provider_sim.bird_headers).status_code == 404


def test_mms_with_simulator_media(provider_sim):
    ticket = presign(provider_sim)
    mms = provider_sim.channel_id(mms=True)
    image = {"type": "image", "image": {"images": [{"mediaUrl": ticket["mediaUrl"]}], "text": "look"}}
    before = provider_sim.http.post(provider_sim.messages_path(mms), headers=provider_sim.bird_headers, json={
        "receiver": {"contacts": [{"identifierValue": "+15551230000"}]}, "body": image})
    assert before.status_code == 422
    assert ".body.image.images[0].mediaUrl" in before.json()["details"]
    assert "never uploaded" in before.json()["details"][".body.image.images[0].mediaUrl"][0]
    upload(ticket)
    sent = provider_sim.http.post(provider_sim.messages_path(mms), headers=provider_sim.bird_headers, json={
        "receiver": {"contacts": [{"identifierValue": "+15551230000"}]}, "body": image})
    assert sent.status_code == 202, sent.text
    unknown = ticket["mediaUrl"].rsplit("/", 1)[0] + "/0b3f5e2a-0000-4000-8000-000000000000"
    missing = provider_sim.http.post(provider_sim.messages_path(mms), headers=provider_sim.bird_headers, json={
        "receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
        "body": {"type": "file", "file": {"files": [{"mediaUrl": "https://cdn.example.com/a.pdf",
                                                     "contentType": "application/pdf"},
                                                    {"mediaUrl": unknown, "contentType": "image/png"}]}}})
    assert missing.status_code == 422
    assert list(missing.json()["details"]) == [".body.file.files[1].mediaUrl"]
    external = provider_sim.http.post(provider_sim.messages_path(mms), headers=provider_sim.bird_headers, json={
        "receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
        "body": {"type": "image", "image": {"images": [{"mediaUrl": "https://cdn.example.com/cat.png"}]}}})
    assert external.status_code == 202


def test_batch_item_with_missing_media_is_rejected(provider_sim):
    mms = provider_sim.channel_id(mms=True)
    unknown = (f"{provider_sim.url}/workspaces/{provider_sim.workspace_id}/channels/{mms}/media/"
               "0b3f5e2a-0000-4000-8000-000000000000")
    item = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
            "body": {"type": "image", "image": {"images": [{"mediaUrl": unknown}]}}}
    response = provider_sim.http.post(f"/workspaces/{provider_sim.workspace_id}/channels/{mms}/batch/messages",
                                      json={"messageRequests": [item]}, headers=provider_sim.bird_headers)
    assert response.status_code == 202
    listed = provider_sim.http.get(provider_sim.messages_path(mms), params={"batchId": response.json()["batchId"]},
                                   headers=provider_sim.bird_headers).json()["results"]
    assert listed[0]["status"] == "rejected" and "does not exist" in listed[0]["reason"]


def test_oversize_upload_with_small_cap(tmp_path):
    settings = Settings(db=":memory:", clock="manual", port=0, max_upload_bytes=1000, media_dir=str(tmp_path / "m"))
    with SimulatorServer(settings) as server:
        client = httpx.Client(base_url=server.url)
        info = client.get("/_sim/info").json()["bird"]
        ws, key = info["workspaces"][0]["id"], info["accessKeys"][0]["key"]
        ticket = client.post(f"/workspaces/{ws}/presigned-upload", json={"contentType": "text/plain"},
                             headers={"Authorization": f"AccessKey {key}"}).json()
        policy = json.loads(base64.b64decode(ticket["uploadFormData"]["policy"]))
        assert ["content-length-range", 0, 1000] in policy["conditions"]
        ok = upload(ticket, b"x" * 1000, file_type="text/plain")
        assert ok.status_code == 204
        over = upload(ticket, b"x" * 1001, file_type="text/plain")
        assert over.status_code == 400 and s3_error(over)[0] == "EntityTooLarge"
        huge = upload(ticket, b"x" * (1024 * 1024), file_type="text/plain")  # cut off while streaming
        assert huge.status_code == 400 and s3_error(huge)[0] == "EntityTooLarge"
        got = client.get(media_path(ticket["mediaUrl"]), headers={"Authorization": f"AccessKey {key}"})
        assert got.content == b"x" * 1000
        client.close()


def test_presigned_upload_without_a_body_is_invalid_not_malformed(provider_sim):
    path = provider_sim.messages_path().rsplit("/messages", 1)[0] + "/presigned-upload"
    r = provider_sim.http.post(path, headers=provider_sim.bird_headers)
    assert r.status_code == 422 and ".contentType" in str(r.json()["details"]), r.text
    r = provider_sim.http.post(path, content=b"{", headers={**provider_sim.bird_headers,
                                                            "Content-Type": "application/json"})
    assert r.status_code == 400  # malformed JSON stays a 400
