"""An advance of the manual clock while sends keep arriving: seen from outside it is one jump, so it finishes."""
from __future__ import annotations

import asyncio

import httpx2 as httpx

from simulator.core.clock import iso_ms, parse_rfc3339


def test_sends_during_an_advance_are_stamped_at_its_target_and_not_chased(provider_sim):
    # Enough in flight that the advance takes a while: the sends below land while it runs.
    for i in range(150):
        provider_sim.send_sms(f"+1555123{i:04d}0", "queued before the advance")
    start = provider_sim.clock()["nowMs"]
    target = start + 3_600_000
    path = provider_sim.messages_path()

    async def scenario() -> tuple[dict, list[tuple[dict, bool]]]:
        async with httpx.AsyncClient(base_url=provider_sim.http.base_url, timeout=30) as client:
            advance = asyncio.create_task(client.post("/_sim/clock/advance", json={"seconds": 3600}))
            sent: list[tuple[dict, bool]] = []
            # Bounded: before the fix the advance chased every send and ended only once the sends stopped.
            for i in range(200):
                if advance.done():
                    break
                body = {"receiver": {"contacts": [{"identifierValue": f"+1555987{i:04d}0"}]},
                        "body": {"type": "text", "text": {"text": "sent during the advance"}}}
                response = await client.post(path, json=body, headers=provider_sim.bird_headers)
                assert response.status_code == 202, response.text
                sent.append((response.json(), advance.done()))
            answer = await advance
            assert answer.status_code == 200, answer.text
            return answer.json(), sent

    answer, sent = asyncio.run(scenario())
    assert parse_rfc3339(answer["now"]) == target
    assert provider_sim.clock()["nowMs"] == target
    # A send answered before the advance's own answer arrived overlapped it.
    overlapped = [message for message, advance_done in sent if not advance_done]
    assert overlapped, "no send overlapped the advance; the test proves nothing"
    assert len(sent) < 200, "the advance only finished once the sends stopped"
    stamps = {message["createdAt"] for message, _ in sent}
    # Each send happened before the advance began or after it: never inside the span it ran.
    assert stamps <= {iso_ms(start), iso_ms(target)}, stamps
    assert iso_ms(target) in {message["createdAt"] for message in overlapped}
    for message, _ in sent:
        if message["createdAt"] == iso_ms(target):
            # Its lifecycle starts at the target: the advance ran none of it.
            assert provider_sim.get_message(message["id"])["status"] == "accepted"
    # And the messages queued before the advance went all the way.
    before = provider_sim.http.get(path, params={"limit": 100}, headers=provider_sim.bird_headers).json()["results"]
    assert all(m["status"] == "delivered" for m in before if m["body"]["text"]["text"] == "queued before the advance")


def test_concurrent_advances_each_move_the_clock_by_their_own_amount(provider_sim):
    for i in range(50):
        provider_sim.send_sms(f"+1555123{i:04d}0")  # transitions to run: the first advance yields while it runs
    start = provider_sim.clock()["nowMs"]

    async def both() -> None:
        async with httpx.AsyncClient(base_url=provider_sim.http.base_url, timeout=30) as client:
            answers = await asyncio.gather(*(client.post("/_sim/clock/advance", json={"seconds": 60})
                                             for _ in range(3)))
            assert [a.status_code for a in answers] == [200, 200, 200]

    asyncio.run(both())
    assert provider_sim.clock()["nowMs"] == start + 180_000
