"""Inbound SMS/MMS from the control plane, STOP/START keywords and opt-outs, clicks, scripted auto-replies."""
from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import httpx2 as httpx
import pytest

from simulator.core.clock import iso_ms, parse_rfc3339
from simulator.server import SimulatorServer
from simulator.settings import Settings
from tests.bird.conftest import bird_verify, events_of, subscribe

GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


def inbound(sim, text=None, sender="+15551239999", channel_id=None, media=None, status=201):
    body = {"channelId": channel_id or sim.channel_id(mms=True), "from": sender}
    if text is not None:
        body["text"] = text
    if media is not None:
        body["media"] = media
    response = sim.http.post("/_sim/bird/inbound", json=body)
    assert response.status_code == status, response.text
    return response.json()


def interactions(sim, message_id, channel_id=None):
    response = sim.http.get(f"{sim.messages_path(channel_id)}/{message_id}/interactions", headers=sim.bird_headers)
    assert response.status_code == 200
    return response.json()["results"]


def test_inbound_sms_is_stored_listed_and_pushed(provider_sim, receiver):
    subscribe(provider_sim, receiver.url + "/in", event="sms.inbound", signing_key="in-key")
    message = inbound(provider_sim, "Hello there", channel_id=provider_sim.channel_id())
    assert message["direction"] == "incoming" and message["status"] == "delivered"
    assert message["sender"]["contact"]["identifierValue"] == "+15551239999"
    assert message["receiver"]["connector"]["identifierValue"] == "+15550100001"
    assert message["body"] == {"type": "text", "text": {"text": "Hello there"}}
    contact = provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/contacts/"
                                    f"{message['sender']['contact']['id']}", headers=provider_sim.bird_headers)
    assert contact.status_code == 200
    listed = provider_sim.http.get(provider_sim.messages_path(), params={"direction": "incoming"},
                                   headers=provider_sim.bird_headers).json()["results"]
    assert [m["id"] for m in listed] == [message["id"]]
    assert provider_sim.get_message(message["id"]) == message
    got = receiver.wait_for(1)[0]
    assert got.json() == {"service": "channels", "event": "sms.inbound", "payload": message}
    assert bird_verify("in-key", got.header("messagebird-request-timestamp"), receiver.url + "/in", got.body,
                       got.header("messagebird-signature"))


def test_inbound_validation(provider_sim):
    inbound(provider_sim, None, status=400)
    inbound(provider_sim, "x", sender="12345", status=400)
    inbound(provider_sim, "x", channel_id="7c0f4a8e-0000-4000-8000-00000000cfff", status=404)
    inbound(provider_sim, media=[{"contentType": "image/gif", "base64": "AAAA"}],
            channel_id=provider_sim.channel_id(mms=False), status=400)
    inbound(provider_sim, media=[{"contentType": "image/gif", "base64": "**"}], status=400)


def test_stop_creates_interaction_and_next_send_is_skipped(provider_sim, receiver):
    subscribe(provider_sim, receiver.url + "/in", event="sms.inbound")
    subscribe(provider_sim, receiver.url + "/ix", event="sms.interaction",
              filters=[{"key": "interactionType", "value": "unsubscribe-request"}])
    subscribe(provider_sim, receiver.url + "/out", filters=[{"key": "messageStatus", "value": "skipped"}])
    older = provider_sim.send_sms("+15551230042", "first")
    last = provider_sim.send_sms("+15551230042", "promo", reference="promo-1", tags=["promo"])
    provider_sim.advance(10)
    inbound(provider_sim, " stop ", sender="+15551230042")
    got = receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/in", "/ix"]
    ix = next(r for r in got if r.path == "/ix").json()
    assert ix["event"] == "sms.interaction"
    assert ix["payload"]["type"] == "unsubscribe-request" and ix["payload"]["messageId"] == last["id"]
    assert ix["payload"]["messageReference"] == "promo-1" and ix["payload"]["messageTags"] == ["promo"]
    assert ix["payload"]["receiver"]["contacts"][0]["identifierValue"] == "+15551230042"
    assert [i["type"] for i in interactions(provider_sim, last["id"])] == ["unsubscribe-request"]
    assert interactions(provider_sim, older["id"]) == []
    blocked = provider_sim.send_sms("+15551230042", "more promo")
    assert blocked["status"] == "skipped"
    assert blocked["failure"]["code"] == 14003 and blocked["details"] == "unsubscribed"
    skipped = receiver.wait_for(3)[2]
    assert skipped.path == "/out" and skipped.json()["payload"]["id"] == blocked["id"]
    provider_sim.advance(60)
    assert provider_sim.get_message(blocked["id"])["status"] == "skipped"
    # Other numbers and other channels are unaffected.
    assert provider_sim.send_sms("+15551230043")["status"] == "accepted"
    assert provider_sim.send_sms("+15551230042", channel_id=provider_sim.channel_id(2))["status"] == "accepted"
    opt_outs = provider_sim.http.get("/_sim/bird/opt-outs").json()["results"]
    assert opt_outs[0]["identifierValue"] == "+15551230042" and opt_outs[0]["optedOut"] is True


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", "Cancel", "END", "quit!"])
def test_all_opt_out_keywords(provider_sim, word):
    provider_sim.send_sms("+15551230042")
    inbound(provider_sim, word, sender="+15551230042")
    assert provider_sim.send_sms("+15551230042")["status"] == "skipped"


def test_stop_inside_a_sentence_is_not_a_keyword(provider_sim):
    provider_sim.send_sms("+15551230042")
    inbound(provider_sim, "please don't stop", sender="+15551230042")
    assert provider_sim.send_sms("+15551230042")["status"] == "accepted"


def test_start_opts_back_in(provider_sim):
    first = provider_sim.send_sms("+15551230042")
    inbound(provider_sim, "STOP", sender="+15551230042")
    skipped = provider_sim.send_sms("+15551230042")
    inbound(provider_sim, "unstop", sender="+15551230042")
    # The last outgoing message to the number is the skipped one: the consent lands there.
    assert [i["type"] for i in interactions(provider_sim, skipped["id"])] == ["subscribe-consent"]
    assert [i["type"] for i in interactions(provider_sim, first["id"])] == ["unsubscribe-request"]
    assert provider_sim.send_sms("+15551230042")["status"] == "accepted"


def test_stop_without_previous_message_still_opts_out(provider_sim):
    inbound(provider_sim, "STOP", sender="+15551230077")
    assert provider_sim.send_sms("+15551230077")["status"] == "skipped"


@pytest.mark.provider_sim(config=str(Path(__file__).parent / "data" / "opt-out-rejected.yaml"))
def test_opt_out_behaviour_rejected(provider_sim):
    inbound(provider_sim, "STOP", sender="+15551230077")
    blocked = provider_sim.send_sms("+15551230077")
    assert blocked["status"] == "rejected" and blocked["failure"]["code"] == 14003


def test_click_creates_interaction_and_webhook(provider_sim, receiver):
    subscribe(provider_sim, receiver.url, event="sms.interaction",
              filters=[{"key": "interactionType", "value": "clicked"}])
    msg = provider_sim.send_sms("+15551230000", "see https://shop.example/p/1")
    bot = provider_sim.http.post(f"/_sim/bird/messages/{msg['id']}/click",
                                 json={"url": "https://shop.example/p/1", "prefetched": True})
    assert bot.status_code == 201
    human = provider_sim.http.post(f"/_sim/bird/messages/{msg['id']}/click", json={"url": "https://shop.example/p/1"})
    again = provider_sim.http.post(f"/_sim/bird/messages/{msg['id']}/click", json={"url": "https://shop.example/p/1"})
    assert bot.json()["isFirstInteraction"] is False and bot.json()["isFirstInteractionIncludingBots"] is True
    assert human.json()["isFirstInteraction"] is True and human.json()["isFirstInteractionIncludingBots"] is False
    assert again.json()["isFirstInteraction"] is False
    listed = interactions(provider_sim, msg["id"])
    assert [i["id"] for i in listed] == [bot.json()["id"], human.json()["id"], again.json()["id"]]
    assert listed[1]["metadata"] == {"link": {"name": "", "url": "https://shop.example/p/1"}, "prefetched": False}
    got = receiver.wait_for(3)
    assert events_of(got) == [("sms.interaction", "clicked")] * 3
    assert got[1].json()["payload"] == listed[1]
    missing = provider_sim.http.post("/_sim/bird/messages/0b3f5e2a-0000-4000-8000-000000000000/click",
                                     json={"url": "https://x.example"})
    assert missing.status_code == 404
    assert provider_sim.http.post(f"/_sim/bird/messages/{msg['id']}/click", json={}).status_code == 400


def test_inbound_mms_media_is_downloadable(provider_sim, receiver):
    subscribe(provider_sim, receiver.url, event="sms.inbound")
    ticket = provider_sim.http.post(f"/workspaces/{provider_sim.workspace_id}/presigned-upload",
                                    json={"contentType": "application/pdf"}, headers=provider_sim.bird_headers).json()
    httpx.post(ticket["uploadUrl"], data=ticket["uploadFormData"], files={"file": ("a.pdf", b"%PDF-1 x")})
    uploaded_id = ticket["mediaUrl"].rsplit("/", 1)[1]
    message = inbound(provider_sim, "pics", media=[
        {"contentType": "image/gif", "base64": base64.b64encode(GIF).decode()},
        {"contentType": "application/pdf", "mediaId": uploaded_id, "filename": "a.pdf"}])
    assert message["body"]["type"] == "file" and message["body"]["file"]["text"] == "pics"
    files = message["body"]["file"]["files"]
    assert [f["contentType"] for f in files] == ["image/gif", "application/pdf"] and files[1]["filename"] == "a.pdf"
    for item, expected in zip(files, (GIF, b"%PDF-1 x"), strict=True):
        assert f"/workspaces/{provider_sim.workspace_id}/messages/{message['id']}/media/" in item["mediaUrl"]
        path = "/" + item["mediaUrl"].split("/", 3)[3]
        got = provider_sim.http.get(path, headers=provider_sim.bird_headers)
        assert got.status_code == 200 and got.content == expected
        assert got.headers["content-type"] == item["contentType"]
        assert provider_sim.http.get(path).status_code == 401
        wrong_message = path.replace(message["id"], "0b3f5e2a-0000-4000-8000-000000000000")
        assert provider_sim.http.get(wrong_message, headers=provider_sim.bird_headers).status_code == 404
    assert receiver.wait_for(1)[0].json()["payload"]["body"] == message["body"]
    only_images = inbound(provider_sim, media=[{"contentType": "image/gif", "base64": base64.b64encode(GIF).decode()}])
    assert only_images["body"]["type"] == "image" and len(only_images["body"]["image"]["images"]) == 1
    # An MMS that is exactly "STOP" with media is not a keyword message.
    inbound(provider_sim, None, media=[{"contentType": "image/gif", "mediaId": "0b3f5e2a-0000-4000-8000-000000000000"}],
            status=404)


AUTO_REPLY_CONFIG = """
    seed: 3
    bird:
      organization: {id: 0b3f5e2a-0000-4000-8000-00000000b1d0}
      access_keys: [{key: sim-bird-access-key-0001}]
      auto_replies:
        - match: {keyword: hours}
          reply: "We are open 9-17"
          delay_seconds: 5
        - match: {receiver: "+1555999*"}
        - match: {receiver: "+1555888*"}
          reply: STOP
          delay_seconds: 1
      workspaces:
        - id: 5b4b2a1e-0000-4000-8000-00000000a001
          channels:
            - {id: 7c0f4a8e-0000-4000-8000-00000000c001, number: "+15550100001", mms: true}
"""


def test_auto_replies_from_config(tmp_path, db):
    config = tmp_path / "world.yaml"
    config.write_text(textwrap.dedent(AUTO_REPLY_CONFIG))
    from simulator.testing import SimClient, WebhookReceiver

    with SimulatorServer(Settings(db=db(), clock="manual", port=0, config=str(config))) as server, \
            WebhookReceiver() as hook, SimClient(server.url) as sim:
        subscribe(sim, hook.url, event="sms.inbound")
        asked = sim.send_sms("+15551110010", "HOURS please?")
        chatty = sim.send_sms("+15559990010", "hi")
        quiet = sim.send_sms("+15551110020", "hi")
        sim.advance(4.2)  # delivered
        sim.advance(0.9)
        assert hook.requests == []
        sim.advance(0.2)  # chatty's default 1 s delay
        first = hook.wait_for(1)[0].json()["payload"]
        assert first["sender"]["contact"]["identifierValue"] == "+15559990010"
        assert first["replyTo"]["id"] == chatty["id"] and first["body"]["text"]["text"]  # faker sentence
        sim.advance(4)
        second = hook.wait_for(2)[1].json()["payload"]
        assert second["body"]["text"]["text"] == "We are open 9-17" and second["replyTo"]["id"] == asked["id"]
        sim.advance(60)
        assert len(hook.requests) == 2 and quiet["id"]
        incoming = sim.http.get(sim.messages_path(), params={"direction": "incoming"},
                                headers=sim.bird_headers).json()["results"]
        assert len(incoming) == 2
        # A scripted STOP reply opts the number out.
        sim.send_sms("+15558880010", "promo")
        sim.advance(10)
        assert sim.send_sms("+15558880010", "promo 2")["status"] == "skipped"


def test_channel_details_for_a_contact_report_the_24_hour_service_window(provider_sim):
    channel = provider_sim.channel_id()
    path = f"/workspaces/{provider_sim.workspace_id}/channels/{channel}/contacts"
    sent = provider_sim.send_sms("+15551239999")  # an outbound message opens no window
    contact_id = sent["receiver"]["contacts"][0]["id"]
    details = provider_sim.http.get(f"{path}/{contact_id}", headers=provider_sim.bird_headers)
    assert details.status_code == 200 and details.json() == {"serviceWindowExpireAt": None,
                                                              "isPermanentSession": False}
    provider_sim.advance(60)
    message = inbound(provider_sim, "Hi", sender="+15551239999", channel_id=channel)
    assert message["sender"]["contact"]["id"] == contact_id
    closes = iso_ms(parse_rfc3339(message["createdAt"]) + 24 * 3_600_000)
    assert provider_sim.http.get(f"{path}/{contact_id}", headers=provider_sim.bird_headers).json() == {
        "serviceWindowExpireAt": closes, "isPermanentSession": False}
    # Per identifier: the contact wrote from this number, not from another one.
    by_number = provider_sim.http.get(f"{path}/{contact_id}", headers=provider_sim.bird_headers,
                                      params={"contactIdentifierValue": "+15551239999"})
    other = provider_sim.http.get(f"{path}/{contact_id}", headers=provider_sim.bird_headers,
                                  params={"contactIdentifierValue": "+15550000000"})
    assert by_number.json()["serviceWindowExpireAt"] == closes and other.json()["serviceWindowExpireAt"] is None
    # Per channel: the window is the channel's the contact wrote to.
    other_channel = provider_sim.channel_id(mms=False)
    assert other_channel != channel
    elsewhere = f"/workspaces/{provider_sim.workspace_id}/channels/{other_channel}/contacts"
    assert provider_sim.http.get(f"{elsewhere}/{contact_id}",
                                 headers=provider_sim.bird_headers).json()["serviceWindowExpireAt"] is None
    provider_sim.advance(24 * 3600)
    assert provider_sim.http.get(f"{path}/{contact_id}",
                                 headers=provider_sim.bird_headers).json()["serviceWindowExpireAt"] is None
    missing = provider_sim.http.get(f"{path}/00000000-0000-4000-8000-000000000000", headers=provider_sim.bird_headers)
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound"
    assert provider_sim.http.get(f"{path}/{contact_id}").status_code == 401


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
