"""Batch sends (POST …/batch/messages): 202 with a batchId; each invalid item becomes a rejected message with Bird's
failure (Bird validates batches asynchronously), while the envelope itself is checked at once."""
from __future__ import annotations

import uuid

import pytest

from tests.bird.conftest import list_page

TEXT = {"type": "text", "text": {"text": "hello"}}


def _batch(sim, items):
    path = sim.messages_path().rsplit("/messages", 1)[0] + "/batch/messages"
    return sim.http.post(path, json={"messageRequests": items}, headers=sim.bird_headers)


def _batch_messages(sim, batch_id):
    r = sim.http.get(sim.messages_path(), params={"batchId": batch_id, "limit": 100}, headers=sim.bird_headers)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def test_batch_send(provider_sim):
    good = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
            "body": {"type": "text", "text": {"text": "a"}}}
    bad = {"receiver": {"contacts": [{"identifierValue": "nope"}]}, "body": {"type": "text", "text": {"text": "b"}}}
    many = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}, {"identifierValue": "+15551230010"}]},
            "body": {"type": "text", "text": {"text": "c"}}}
    path = provider_sim.messages_path().replace("/messages", "/batch/messages")
    r = provider_sim.http.post(path, json={"messageRequests": [good, bad, many]}, headers=provider_sim.bird_headers)
    assert r.status_code == 202, r.text
    batch_id = r.json()["batchId"]
    results = list_page(provider_sim, batchId=batch_id, reverse="true")["results"]
    assert [m["status"] for m in results] == ["accepted", "rejected", "rejected"]
    assert results[1]["failure"]["code"] == 11002 and "E.164" in results[1]["reason"]
    assert results[2]["failure"]["code"] == 11001
    assert all(m["batchId"] == batch_id for m in results)
    provider_sim.advance(10)
    assert provider_sim.get_message(results[0]["id"])["status"] == "delivered"


def test_batch_envelope_limits(provider_sim):
    path = provider_sim.messages_path().replace("/messages", "/batch/messages")
    item = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
            "body": {"type": "text", "text": {"text": "a"}}}
    for body, key in (({"messageRequests": []}, ".messageRequests"),
                      ({"messageRequests": [item] * 101}, ".messageRequests"),
                      ({}, ".messageRequests"), ({"messageRequests": [item], "x": 1}, ".")):
        r = provider_sim.http.post(path, json=body, headers=provider_sim.bird_headers)
        assert r.status_code == 422, r.text
        assert key in r.json()["details"]


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
