"""The scheduler under steady traffic: an advance (or a run-due) is bounded by the work due when it began, and a
full reset is one step that concurrent sends land wholly before or wholly after."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx2 as httpx
import pytest

from simulator.core.clock import iso_ms, parse_rfc3339
from simulator.testing import ReceivedRequest, WebhookReceiver
from tests.bird.conftest import subscribe

MAX_SENDS = 200


def _send_body(number: str, text: str) -> dict[str, Any]:
    return {"receiver": {"contacts": [{"identifierValue": number}]}, "body": {"type": "text", "text": {"text": text}}}


async def _sends_while(sim: Any, client: httpx.AsyncClient, run: asyncio.Task) -> list[tuple[dict, bool]]:
    """Send until ``run`` is answered (at most MAX_SENDS): each 202's message and whether ``run`` was done then."""
    sent: list[tuple[dict, bool]] = []
    for i in range(MAX_SENDS):
        if run.done():
            break
        response = await client.post(sim.messages_path(), json=_send_body(f"+1555987{i:04d}0", "during the run"),
                                     headers=sim.bird_headers)
        assert response.status_code == 202, response.text
        sent.append((response.json(), run.done()))
    return sent


def test_sends_during_an_advance_are_stamped_at_its_target_and_not_chased(provider_sim):
    # The advance delivers the "processing" webhooks it causes itself, and the gate holds them: sends made then
    # overlap the advance for certain, whatever the host's speed. Once the gate opens, sends go on until it answers.
    gate = WebhookReceiver().start()
    gate.hold()
    subscribe(provider_sim, gate.url + "/hook", filters=[{"key": "messageStatus", "value": "processing"}])
    for i in range(150):
        provider_sim.send_sms(f"+1555123{i:04d}0", "queued before the advance")
    start = provider_sim.clock()["nowMs"]
    target = start + 3_600_000

    async def scenario() -> tuple[dict, list[tuple[dict, bool]]]:
        async with httpx.AsyncClient(base_url=provider_sim.http.base_url, timeout=30) as client:
            advance = asyncio.create_task(client.post("/_sim/clock/advance", json={"seconds": 3600}))
            await asyncio.to_thread(gate.wait_for, 1, 10)  # fails if the advance delivered no webhook
            held: list[tuple[dict, bool]] = []
            for i in range(5):
                response = await client.post(provider_sim.messages_path(), headers=provider_sim.bird_headers,
                                             json=_send_body(f"+1555876{i:04d}0", "during the run"))
                assert response.status_code == 202, response.text
                held.append((response.json(), advance.done()))
            assert not advance.done(), "the advance answered while the gate held its webhooks"
            gate.release()
            sent = held + await _sends_while(provider_sim, client, advance)
            answer = await advance
            assert answer.status_code == 200, answer.text
            return answer.json(), sent

    try:
        answer, sent = asyncio.run(scenario())
    finally:
        gate.stop()
    assert parse_rfc3339(answer["now"]) == target
    assert provider_sim.clock()["nowMs"] == target
    # A send answered before the advance's own answer arrived overlapped it.
    overlapped = [message for message, advance_done in sent if not advance_done]
    assert overlapped, "no send overlapped the advance; the test proves nothing"
    assert len(sent) < MAX_SENDS, "the advance only finished once the sends stopped"
    stamps = {message["createdAt"] for message, _ in sent}
    # Each send happened before the advance began or after it: never inside the span it ran.
    assert stamps <= {iso_ms(start), iso_ms(target)}, stamps
    assert iso_ms(target) in {message["createdAt"] for message in overlapped}
    for message, _ in sent:
        if message["createdAt"] == iso_ms(target):
            # Its lifecycle starts at the target: the advance ran none of it.
            assert provider_sim.get_message(message["id"])["status"] == "accepted"
    # And the messages queued before the advance went all the way.
    listed = provider_sim.http.get(provider_sim.messages_path(), params={"limit": 100},
                                   headers=provider_sim.bird_headers).json()["results"]
    assert all(m["status"] == "delivered" for m in listed if m["body"]["text"]["text"] == "queued before the advance")


class EchoBot:
    """An app that answers each "accepted" webhook by sending another SMS before it answers 200: every delivery
    causes a new one, due "now". Stops after ``limit`` sends."""

    def __init__(self, sim: Any, limit: int) -> None:
        self.sim, self.limit, self.sent = sim, limit, 0
        self.lock = threading.Lock()
        self.client = httpx.Client(base_url=sim.http.base_url, headers=sim.bird_headers, timeout=30)
        self.http = WebhookReceiver().start()
        self.http.respond_with(self._echo)
        self.url = self.http.url + "/echo"

    def _echo(self, request: ReceivedRequest) -> None:
        with self.lock:
            go = self.sent < self.limit
            self.sent += go
        if go:
            answer = self.client.post(self.sim.messages_path(), json=_send_body("+15559870000", "echo"))
            assert answer.status_code == 202, answer.text

    def close(self) -> None:
        self.http.stop()
        self.client.close()


@pytest.mark.parametrize("endpoint", ["/_sim/clock/advance", "/_sim/clock/run-due"])
def test_a_run_leaves_the_work_that_arrives_while_it_runs(provider_sim, endpoint):
    bot = EchoBot(provider_sim, limit=60)
    try:
        subscribe(provider_sim, bot.url, filters=[{"key": "messageStatus", "value": "accepted"}])
        # The chain starts: the background loop or the run below delivers its first webhook, whichever holds the
        # scheduler's lock first; the other waits for that run to end.
        provider_sim.send_sms("+15559870000", "first")
        answer = provider_sim.http.post(endpoint, json={"seconds": 1} if endpoint.endswith("advance") else None)
        assert answer.status_code == 200, answer.text
        with bot.lock:
            sent_when_answered = bot.sent
        # Before: a run delivered the bot's webhook, the bot sent again, the run delivered that one, ... until the
        # bot stopped (60), and this request waited for all of it. Now a run leaves what others write for its own
        # time to the next run: the chain still runs to its end, one run per link.
        assert sent_when_answered < bot.limit, sent_when_answered
        deadline = time.monotonic() + 20
        while bot.sent < bot.limit and time.monotonic() < deadline:
            provider_sim.health()  # a round trip, not a sleep: the chain runs in the background meanwhile
        assert bot.sent == bot.limit
    finally:
        bot.close()


def test_concurrent_advances_each_move_the_clock_by_their_own_amount(provider_sim):
    for i in range(50):
        provider_sim.send_sms(f"+1555123{i:04d}0")  # transitions to run: the first advance yields while it runs
    start = provider_sim.clock()["nowMs"]

    async def three() -> None:
        async with httpx.AsyncClient(base_url=provider_sim.http.base_url, timeout=30) as client:
            answers = await asyncio.gather(*(client.post("/_sim/clock/advance", json={"seconds": 60})
                                             for _ in range(3)))
            assert [a.status_code for a in answers] == [200, 200, 200]

    asyncio.run(three())
    assert provider_sim.clock()["nowMs"] == start + 180_000


def test_sends_racing_a_full_reset_land_wholly_before_or_after_it(provider_sim):
    seeded_start = provider_sim.reset(seed=11)["clock"]["nowMs"]
    survivors: list[dict] = []
    for round_ in range(6):
        provider_sim.advance(3600)  # a send stamped before the reset's rewind would carry this hour

        async def race() -> list[dict]:
            async with httpx.AsyncClient(base_url=provider_sim.http.base_url, timeout=30) as client:
                reset = client.post("/_sim/reset", json={"seed": 11})
                sends = [client.post(provider_sim.messages_path(),
                                     json=_send_body(f"+1555{round_:03d}{k:04d}0", "racing"),
                                     headers=provider_sim.bird_headers) for k in range(8)]
                answers = await asyncio.gather(reset, *sends)
                assert answers[0].status_code == 200, answers[0].text
                assert all(a.status_code == 202 for a in answers[1:]), [a.text for a in answers[1:]]
                return [a.json() for a in answers[1:]]

        for message in asyncio.run(race()):
            found = provider_sim.http.get(f"{provider_sim.messages_path()}/{message['id']}",
                                          headers=provider_sim.bird_headers)
            if found.status_code == 404:
                continue  # sent before the reset, which deleted it
            assert found.status_code == 200, found.text
            # Sent after the reset: the seeded world's time, not the hour the reset undid.
            assert found.json()["createdAt"] == iso_ms(seeded_start), (round_, found.json()["createdAt"])
            survivors.append(message)
    # Ids after a reset come from the reseeded sequence: many more sends never collide with one drawn before it.
    for i in range(300):
        provider_sim.send_sms(f"+1555777{i:04d}0")
    assert survivors, "no send landed after a reset; the test proves nothing"


def _hold_first_until_a_second_arrives(receiver: WebhookReceiver, hold_s: float) -> None:
    """The first request waits unanswered until a second one arrives (at most ``hold_s``); the rest are answered at
    once. Every request records whether an earlier one was still unanswered when it arrived."""
    second_arrived = threading.Event()

    def answer(request: ReceivedRequest) -> None:
        if request is receiver.requests[0]:
            second_arrived.wait(hold_s)
        else:
            second_arrived.set()

    receiver.respond_with(answer)


def test_an_advance_does_not_overtake_a_webhook_still_on_the_wire(provider_sim):
    # The background loop leaves each webhook running; an advance that begins meanwhile delivers the message's
    # next statuses itself. They must still go out after the one on the wire, as they do without the advance.
    with WebhookReceiver() as receiver:
        _hold_first_until_a_second_arrives(receiver, hold_s=0.5)
        subscribe(provider_sim, receiver.url + "/hook")
        provider_sim.send_sms("+15551230000", "hi")
        receiver.wait_for(1, timeout=10)  # fails if the accepted webhook never arrived
        provider_sim.advance(10)
        arrivals = [(r.json()["payload"]["status"], r.unanswered_before > 0) for r in receiver.requests]
        assert [status for status, _ in arrivals] == ["accepted", "processing", "sent", "delivered"]
        overtaken = [status for status, earlier_open in arrivals if earlier_open]
        assert not overtaken, f"{overtaken} went out while an earlier webhook of the message was unanswered"


def test_an_advance_runs_the_retry_that_a_webhook_on_the_wire_schedules_within_it(provider_sim):
    # The background loop leaves the first attempt running; it fails only once the advance has begun, and its retry
    # (30 s later) falls due at the advance's target. The advance waits for that attempt, so the retry is its own
    # work, not traffic that arrived while it ran: it goes out before the advance answers.
    with WebhookReceiver() as receiver:
        receiver.hold()
        receiver.set_responses([503])  # the first attempt, held until it may fail
        subscribe(provider_sim, receiver.url + "/hook", filters=[{"key": "messageStatus", "value": "accepted"}])
        provider_sim.send_sms("+15551230000", "hi")
        receiver.wait_for(1, timeout=10)  # fails if the accepted webhook never arrived
        target = provider_sim.clock()["nowMs"] + 30_000
        advance = threading.Thread(target=provider_sim.advance, args=(30,))
        advance.start()
        # Others read an advance's target as soon as it begins: then the first attempt may fail.
        deadline = time.monotonic() + 10
        while provider_sim.clock()["nowMs"] != target and time.monotonic() < deadline:
            pass
        receiver.release()
        advance.join(30)
        assert not advance.is_alive()
        assert len(receiver.requests) == 2, (f"{len(receiver.requests)} attempt(s) after the advance: the retry due"
                                             " at its end is missing")
