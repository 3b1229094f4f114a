"""Signed sms.outbound deliveries to a real loopback receiver, retries on the simulator clock, delivery logs."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

from simulator.bird.webhooks import sign
from tests.bird.conftest import bird_verify, events_of, subs_path, subscribe


def test_spec_test_vector_independent_and_simulator():
    body = b'{"service":"channels","event":"sms.outbound","payload":{"id":"x","status":"sent"}}'
    expected = "kGg4mcgfD5fn8+1UjBEULzkl/FYLBMDMjQA9kEL3qLw="
    assert bird_verify("test-signing-key", "1716199200", "https://hooks.example.com/bird", body, expected)
    assert sign("test-signing-key", "1716199200", "https://hooks.example.com/bird", body) == expected
    # A hex digest instead of the raw 32 bytes (a classic mistake) gives another signature.
    wrong = base64.b64encode(hmac.new(b"test-signing-key", b"1716199200\nhttps://hooks.example.com/bird\n"
                                      + hashlib.sha256(body).hexdigest().encode(), hashlib.sha256).digest()).decode()
    assert wrong != expected


def test_every_status_arrives_signed(provider_sim, receiver):
    url = receiver.url + "/bird/hooks?tenant=7&sig=a%2Bb%2Fc"  # escapes reach the receiver exactly as registered
    sub = subscribe(provider_sim, url, signing_key="s3cr3t-key")
    assert sub["signingKey"] == "s3cr3t-key"
    start = provider_sim.clock()["nowMs"]
    msg = provider_sim.send_sms("+15551230000", "hi")
    provider_sim.advance(10)
    got = receiver.wait_for(4)
    assert events_of(got) == [("sms.outbound", s) for s in ("accepted", "processing", "sent", "delivered")]
    for request in got:
        assert request.path == "/bird/hooks?tenant=7&sig=a%2Bb%2Fc"
        ts = request.header("messagebird-request-timestamp")
        assert bird_verify("s3cr3t-key", ts, url, request.body, request.header("messagebird-signature"))
        assert not bird_verify("other-key", ts, url, request.body, request.header("messagebird-signature"))
        assert len(request.header("messagebird-request-id")) == 36
        assert request.header("content-type") == "application/json"
        envelope = request.json()
        assert envelope["service"] == "channels" and envelope["payload"]["id"] == msg["id"]
        assert start // 1000 <= int(ts) <= start // 1000 + 10
    final = got[-1].json()["payload"]
    assert final == provider_sim.get_message(msg["id"])  # the full message object


def test_retry_after_500_reuses_timestamp_and_signature(provider_sim, receiver):
    subscribe(provider_sim, receiver.url + "/hook", filters=[{"key": "messageStatus", "value": "accepted"}])
    receiver.set_responses([500])
    provider_sim.send_sms("+15551230000")
    first = receiver.wait_for(1)[0]
    assert first.json()["payload"]["status"] == "accepted"
    provider_sim.advance(29)
    assert len(receiver.requests) == 1  # first retry is due 30 s later on the simulator clock
    provider_sim.advance(1)
    second = receiver.wait_for(2)[1]
    for name in ("messagebird-request-timestamp", "messagebird-signature", "messagebird-request-id"):
        assert second.header(name) == first.header(name)
    assert second.body == first.body
    provider_sim.advance(3600)
    assert len(receiver.requests) == 2  # delivered: no more attempts


def test_retries_follow_backoff_then_give_up(provider_sim, receiver):
    sub = subscribe(provider_sim, receiver.url, filters=[{"key": "messageStatus", "value": "accepted"}])
    receiver.set_responses([503] * 20)
    provider_sim.send_sms("+15551230000")
    receiver.wait_for(1)
    seen = [1]
    for step in (30, 120, 600, 1800, 3600, 7200, 14400):
        provider_sim.advance(step)
        seen.append(len(receiver.requests))
    assert seen == [1, 2, 3, 4, 5, 6, 7, 8]
    provider_sim.advance(86400)
    assert len(receiver.requests) == 8
    logs = provider_sim.http.get(subs_path(provider_sim) + f"/{sub['id']}/logs", headers=provider_sim.bird_headers)
    entry = logs.json()["results"][0]
    assert entry["executionStatus"] == "failed" and entry["attemptCount"] == 8 and entry["httpStatusCode"] == 503


def test_connection_refused_is_retried(provider_sim, receiver):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead_port = sock.getsockname()[1]
    sock.close()
    sub = subscribe(provider_sim, f"http://127.0.0.1:{dead_port}/x",
                    filters=[{"key": "messageStatus", "value": "accepted"}])
    provider_sim.send_sms("+15551230000")
    provider_sim.advance(31)
    logs = provider_sim.http.get(subs_path(provider_sim) + f"/{sub['id']}/logs", headers=provider_sim.bird_headers)
    entry = logs.json()["results"][0]
    assert entry["executionStatus"] == "retrying" and entry["attemptCount"] == 2
    assert entry["httpStatusCode"] is None and entry["error"]


def test_logs_and_details(provider_sim, receiver):
    sub = subscribe(provider_sim, receiver.url)
    receiver.set_responses([(500, b'{"error": "db down"}')])
    provider_sim.send_sms("+15551230000")
    provider_sim.advance(40)
    receiver.wait_for(5)
    base = subs_path(provider_sim) + f"/{sub['id']}/logs"
    page = provider_sim.http.get(base, params={"limit": 2}, headers=provider_sim.bird_headers).json()
    assert len(page["results"]) == 2 and page["nextPageToken"]
    rest = provider_sim.http.get(base, params={"limit": 10, "pageToken": page["nextPageToken"]},
                                 headers=provider_sim.bird_headers).json()
    every = page["results"] + rest["results"]
    assert len(every) == 4 and all(e["executionStatus"] == "succeeded" for e in every)
    accepted = next(e for e in every if e["attemptCount"] == 2)
    details = provider_sim.http.get(base + "/details", params={"requestId": accepted["requestId"]},
                                    headers=provider_sim.bird_headers).json()
    assert [a["httpStatusCode"] for a in details["attempts"]] == [500, 200]
    assert details["attempts"][0]["responseBody"] == '{"error": "db down"}'  # what the receiver answered
    assert details["request"]["body"]["payload"]["status"] == "accepted"
    assert "messagebird-signature" in details["request"]["headers"]
    only_ok = provider_sim.http.get(base, params={"executionStatus": "failed"}, headers=provider_sim.bird_headers)
    assert only_ok.json()["results"] == []
    bad = provider_sim.http.get(base, params={"executionStatus": "nope"}, headers=provider_sim.bird_headers)
    assert bad.status_code == 422
    missing = provider_sim.http.get(base + "/details", params={"requestId": "nope"}, headers=provider_sim.bird_headers)
    assert missing.status_code == 404


def test_notification_url_replaces_subscription_url(provider_sim, receiver):
    subscribe(provider_sim, receiver.url + "/subscription")
    msg = provider_sim.send_sms("+15551230000", notification={"url": receiver.url + "/per-message"})
    other = provider_sim.send_sms("+15551230000")
    provider_sim.advance(10)
    got = receiver.wait_for(8)
    paths = {(r.json()["payload"]["id"], r.path) for r in got}
    assert paths == {(msg["id"], "/per-message"), (other["id"], "/subscription")}
    signed_url = receiver.url + "/per-message"
    per_message = [r for r in got if r.path == "/per-message"]
    assert len(per_message) == 4
    assert all(bird_verify("test-signing-key", r.header("messagebird-request-timestamp"), signed_url, r.body,
                           r.header("messagebird-signature")) for r in per_message)


def test_notification_url_without_subscription_is_not_called(provider_sim, receiver):
    provider_sim.send_sms("+15551230000", notification={"url": receiver.url + "/per-message"})
    provider_sim.advance(10)
    assert receiver.requests == []


def test_unsigned_when_no_signing_key(provider_sim, receiver):
    subscribe(provider_sim, receiver.url, signing_key=None, filters=[{"key": "messageStatus", "value": "accepted"}])
    provider_sim.send_sms("+15551230000")
    got = receiver.wait_for(1)[0]
    assert got.header("messagebird-signature") is None
    assert got.header("messagebird-request-timestamp") and got.header("messagebird-request-id")
    assert json.loads(got.body)["event"] == "sms.outbound"


def test_deleting_a_subscription_stops_its_queued_retries(provider_sim, receiver):
    sub = subscribe(provider_sim, receiver.url, filters=[{"key": "messageStatus", "value": "accepted"}])
    receiver.set_responses([503] * 20)
    provider_sim.send_sms("+15551230000")
    receiver.wait_for(1)
    provider_sim.advance(30)
    assert len(receiver.wait_for(2)) == 2  # retrying
    deleted = provider_sim.http.delete(subs_path(provider_sim) + f"/{sub['id']}", headers=provider_sim.bird_headers)
    assert deleted.status_code in (200, 204), deleted.text
    provider_sim.advance(86400)
    assert len(receiver.requests) == 2
    outbox = provider_sim.control("GET", "/_sim/outbox", params={"status": "cancelled"})
    assert outbox["stats"]["cancelled"] == 1 and len(outbox["results"]) == 1


def test_receiver_answer_is_logged_and_cut(provider_sim, receiver):
    sub = subscribe(provider_sim, receiver.url, filters=[{"key": "messageStatus", "value": "accepted"}])
    receiver.set_responses([(422, "é".encode() * 5000)])  # 10,000 bytes of UTF-8
    provider_sim.send_sms("+15551230000")
    provider_sim.wait_for_journal(kind="webhook")  # journalled once the attempt is recorded
    outbox = provider_sim.http.get("/_sim/outbox", params={"provider": "bird"}).json()["results"]
    attempt = outbox[0]["attempts"][0]
    assert attempt["statusCode"] == 422 and attempt["responseBody"] == "é" * 2000
    logs = provider_sim.http.get(subs_path(provider_sim) + f"/{sub['id']}/logs", headers=provider_sim.bird_headers)
    request_id = logs.json()["results"][0]["requestId"]
    details = provider_sim.http.get(subs_path(provider_sim) + f"/{sub['id']}/logs/details",
                                    params={"requestId": request_id}, headers=provider_sim.bird_headers).json()
    assert details["attempts"][0]["responseBody"] == "é" * 2000
