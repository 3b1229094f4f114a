"""A fleet: simulators on one PostgreSQL database act as one (core/fleet.py). Each test runs two or three servers on a
fresh database, each with its own event loop, pool and memory, as separate processes would; requests alternate
between them through HTTP."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient, WebhookReceiver
from tests.bird.conftest import subs_path
from tests.conftest import _fresh_postgres

NUMBERS = [f"+1555123{n:04d}" for n in range(1020, 1080)]  # no magic suffix (0001-0007)


@pytest.fixture
def fleet(request: pytest.FixtureRequest) -> Iterator[list[SimClient]]:
    url = _fresh_postgres(request)
    with ExitStack() as stack:
        clients = []
        for _ in range(3):
            server = stack.enter_context(SimulatorServer(Settings(db=url, clock="manual", port=0,
                                                                  log_level="warning")))
            clients.append(stack.enter_context(SimClient(server.url)))
        yield clients


def test_three_members_each_with_its_own_id_stream(fleet: list[SimClient]) -> None:
    infos = [client.info()["fleet"] for client in fleet]
    assert sorted(info["stream"] for info in infos) == [0, 1, 2]
    members = infos[0]["members"]
    assert len(members) == 3 and all(m["live"] for m in members)
    ids = [fleet[i % 3].send_sms(NUMBERS[i])["id"] for i in range(30)]
    assert len(set(ids)) == 30  # same seed, three processes: never one id twice


def test_a_message_sent_through_one_is_read_listed_forced_and_reset_through_the_others(
        fleet: list[SimClient]) -> None:
    a, b, c = fleet
    message = a.send_sms(NUMBERS[0], "hello fleet")
    assert b.get_message(message["id"])["body"]["text"]["text"] == "hello fleet"
    assert c.force_status(message["id"], "delivery_failed")["status"] == "delivery_failed"
    assert a.get_message(message["id"])["status"] == "delivery_failed"
    listed = [b.http.get(b.messages_path(), headers=b.bird_headers).json()["results"] for b in fleet]
    assert all([m["id"] for m in results] == [message["id"]] for results in listed)
    c.reset()
    for client in fleet:
        assert client.http.get(client.messages_path(), headers=client.bird_headers).json()["results"] == []


def test_one_clock_and_advances_through_two_members_add_up(fleet: list[SimClient]) -> None:
    a, b, c = fleet
    start = a.clock()["nowMs"]
    a.advance(60)
    assert b.clock()["nowMs"] == c.clock()["nowMs"] == start + 60_000
    threads = [threading.Thread(target=client.advance, args=(seconds,)) for client, seconds in ((a, 30), (b, 45))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {client.clock()["nowMs"] for client in fleet} == {start + 135_000}
    c.reset()
    assert {client.clock()["nowMs"] for client in fleet} == {start}


def test_an_advance_through_one_runs_every_job_due_whoever_sent_it(fleet: list[SimClient]) -> None:
    a, b, c = fleet
    sent = [fleet[i % 3].send_sms(NUMBERS[i])["id"] for i in range(12)]
    b.advance(30)
    for message_id in sent:
        assert c.get_message(message_id)["status"] == "delivered"


def test_a_subscription_made_through_one_is_used_by_deliveries_on_the_others(fleet: list[SimClient]) -> None:
    a, b, c = fleet
    with WebhookReceiver() as receiver:
        body = {"service": "channels", "event": "sms.outbound", "url": receiver.url + "/bird"}
        assert a.http.post(subs_path(a), json=body, headers=a.bird_headers).status_code == 201
        message = b.send_sms(NUMBERS[1])
        c.advance(30)
        statuses = [r.json()["payload"]["status"] for r in receiver.requests
                    if r.json()["payload"]["id"] == message["id"]]
        # Each status once, in order, though three processes could have delivered them.
        assert statuses == ["accepted", "processing", "sent", "delivered"], statuses  # as one process sends them


def test_a_fault_rule_with_times_3_fires_3_times_across_the_fleet(fleet: list[SimClient]) -> None:
    a, b, c = fleet
    a.add_fault(provider="bird", operation="send_message", status=503, times=3)
    answers = []
    for i in range(12):
        client = fleet[i % 3]
        body = {"receiver": {"contacts": [{"identifierValue": NUMBERS[i]}]},
                "body": {"type": "text", "text": {"text": "x"}}}
        answers.append(client.http.post(client.messages_path(), json=body, headers=client.bird_headers).status_code)
    assert answers.count(503) == 3 and answers.count(202) == 9, answers
    assert all(client.faults()["rules"] == [] for client in fleet)


def test_control_state_changed_through_one_is_seen_by_the_next_request_on_another(fleet: list[SimClient]) -> None:
    a, b, c = fleet
    a.webhook_faults(delay_seconds=7)
    assert b.faults()["webhooks"]["delaySeconds"] == 7
    rule = b.add_fault(provider="bird", status=500)
    assert [r["id"] for r in c.faults()["rules"]] == [rule["id"]]
    a.clear_faults()
    assert b.faults()["rules"] == [] and c.faults()["webhooks"]["delaySeconds"] == 0


def test_a_full_reset_through_one_leaves_no_member_serving_what_was_before(fleet: list[SimClient]) -> None:
    a, b, c = fleet
    before = [a.send_sms(NUMBERS[i])["id"] for i in range(3)]
    a.add_fault(provider="bird", status=500, times=50)
    b.reset()
    for client in fleet:
        assert client.faults()["rules"] == []
        assert client.http.get(f"{client.messages_path()}/{before[0]}", headers=client.bird_headers).status_code == 404
    after = c.send_sms(NUMBERS[10])  # a send after the reset works everywhere
    assert a.get_message(after["id"])["id"] == after["id"]


def _subscribe(client: SimClient, receiver: WebhookReceiver) -> Any:
    body = {"service": "channels", "event": "sms.outbound", "url": receiver.url + "/bird"}
    return client.http.post(subs_path(client), json=body, headers=client.bird_headers)


def test_a_workspaces_rate_limit_budget_is_one_across_the_fleet(fleet: list[SimClient]) -> None:
    a, b, c = fleet
    a.bird_rate_limits(post_per_second=5)
    answers = []
    for i in range(12):  # one second of the manual clock, round-robin
        client = fleet[i % 3]
        body = {"receiver": {"contacts": [{"identifierValue": NUMBERS[i]}]},
                "body": {"type": "text", "text": {"text": "x"}}}
        answers.append(client.http.post(client.messages_path(), json=body, headers=client.bird_headers).status_code)
    assert answers.count(202) == 5 and answers.count(429) == 7, answers
    b.advance(1)  # the next second has a budget of its own
    assert c.send_sms(NUMBERS[20])["id"]


def test_the_journal_shows_every_members_requests_in_one_order(fleet: list[SimClient]) -> None:
    a, b, c = fleet
    c.clear_journal()
    sent = [fleet[i % 3].send_sms(NUMBERS[30 + i], f"n{i}")["id"] for i in range(6)]
    seen = []
    for client in fleet:
        # Each process writes its entries a moment after answering: a wait reads the table until all are there.
        entries = client.wait_for_journal(count=6, kind="request", operation="send_message")
        seen.append([e["response"]["body"]["id"] for e in entries])
    # One order, the same on every member (the order entries reached the table), holding every member's entries,
    # each member's own in the order it answered them.
    assert seen[0] == seen[1] == seen[2] and sorted(seen[0]) == sorted(sent)
    for member in range(3):
        own = sent[member::3]
        assert [i for i in seen[0] if i in own] == own


def _stream_until(client: SimClient, wanted: Any, max_seconds: float = 8.0) -> list[tuple[str, dict[str, Any]]]:
    """Read one member's live stream until ``wanted(events)`` holds (or the stream's own end)."""
    import json

    events: list[tuple[str, dict[str, Any]]] = []
    kind = ""
    with client.http.stream("GET", "/_sim/events", params={"maxSeconds": max_seconds}, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if wanted(events):
                    break
    return events


def test_the_live_stream_of_any_member_shows_what_happens_on_all_of_them(fleet: list[SimClient]) -> None:
    a, b, c = fleet
    sent: list[str] = []

    def traffic() -> None:
        # Until B's stream is known to the fleet (its next heartbeat) A relays nothing: send until one arrives.
        for i in range(40):
            sent.append(a.send_sms(NUMBERS[40 + i % 20])["id"])
            if done.is_set():
                return
            threading.Event().wait(0.2)  # pacing traffic from another thread, not simulated time

    done = threading.Event()
    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        events = _stream_until(b, lambda seen: any(k == "bird.message" and d.get("id") in sent for k, d in seen))
    finally:
        done.set()
        sender.join()
    assert any(k == "bird.message" and d.get("id") in sent for k, d in events), events[-5:]


def test_a_channel_installed_through_one_sends_through_the_others_until_a_reset(fleet: list[SimClient]) -> None:
    a, b, c = fleet
    body = {"name": "Alerts NL", "connectorTemplateRef": "sms-messagebird:1",
            "arguments": {"phoneNumberId": "3f0c1a52-7d44-4c2e-9d0b-2a8f6b1c9e01",
                          "channelMessageType": "transactional", "phoneNumber": "+3197010250001"}}
    r = a.http.post(f"/workspaces/{a.workspace_id}/connectors", json=body, headers=a.bird_headers)
    assert r.status_code == 201, r.text
    channel = r.json()["channel"]["channelId"]
    sent = b.send_sms("+31612345678", "via an installed channel", channel_id=channel)
    assert c.get_message(sent["id"], channel_id=channel)["id"] == sent["id"]
    a.reset()
    for client in (b, c):
        gone = client.http.post(client.messages_path(channel), headers=client.bird_headers,
                                json={"receiver": {"contacts": [{"identifierValue": "+31612345678"}]},
                                      "body": {"type": "text", "text": {"text": "x"}}})
        assert gone.status_code == 404, gone.text
