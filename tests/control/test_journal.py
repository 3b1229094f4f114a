"""The request journal through real HTTP: what is recorded, masking, filters, bounds, diagnostics, export."""
from __future__ import annotations

import asyncio

import pytest
import yaml

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient

SEND = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]}, "body": {"type": "text", "text": {"text": "hi"}}}


def test_provider_request_is_journaled_with_secrets_masked(provider_sim):
    message = provider_sim.send_sms("+15551230000", "hello")
    [entry] = provider_sim.journal(operation="send_message")
    assert entry["kind"] == "request"
    assert entry["provider"] == "bird"
    assert entry["method"] == "POST"
    assert entry["route"] == "/workspaces/{workspace_id}/channels/{channel_id}/messages"
    assert entry["headers"]["authorization"] == "AccessKey ****0001"
    assert provider_sim.bird_key not in str(entry)
    assert entry["body"]["body"]["text"]["text"] == "hello"
    assert entry["response"]["status"] == 202
    assert entry["response"]["body"]["id"] == message["id"]
    assert entry["at"] == provider_sim.clock()["now"]


def test_filters_by_provider_operation_method_status_and_path(provider_sim):
    provider_sim.send_sms("+15551230000")
    provider_sim.http.post(provider_sim.messages_path(), json={"receiver": {"contacts": []}},
                           headers=provider_sim.bird_headers)
    provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers)
    assert len(provider_sim.journal(provider="bird", kind="request")) == 3
    assert len(provider_sim.journal(method="GET", kind="request")) == 1
    assert [e["response"]["status"] for e in provider_sim.journal(status="4xx")] == [422]
    assert len(provider_sim.journal(status=202)) == 1
    assert len(provider_sim.journal(path=f"/workspaces/{provider_sim.workspace_id}/channels")) == 3
    assert provider_sim.journal(provider="business_chat") == []


def test_since_filter_uses_the_simulated_clock(provider_sim):
    provider_sim.send_sms("+15551230000")
    provider_sim.advance(60)
    later = provider_sim.clock()["now"]
    provider_sim.send_sms("+15551230000")
    entries = provider_sim.journal(operation="send_message", since=later)
    assert len(entries) == 1 and entries[0]["at"] == later


def test_validation_failure_names_the_schema_path(provider_sim):
    provider_sim.http.post(provider_sim.messages_path(), json={"receiver": {"contacts": []}, "body": {}},
                           headers=provider_sim.bird_headers)
    [entry] = provider_sim.journal(status=422)
    assert entry["operation"] == "send_message"
    assert ".receiver.contacts" in entry["diagnostics"]["schemaPaths"]


def test_unknown_route_names_the_closest_operation(provider_sim):
    response = provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/chanels", headers=provider_sim.bird_headers)
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"  # Bird's shape
    [entry] = provider_sim.journal(status=404)
    assert entry["operation"] is None
    assert entry["diagnostics"]["unmatched"] is True
    assert entry["diagnostics"]["closestOperation"] == "GET /workspaces/{workspace_id}/channels"


def test_control_mutations_are_journaled_but_reads_are_not(provider_sim):
    provider_sim.advance(5)
    provider_sim.info()
    kinds = [(e["kind"], e["operation"]) for e in provider_sim.journal()]
    assert kinds == [("control", "advance_clock")]


def test_delete_clears_and_full_reset_clears(provider_sim):
    provider_sim.send_sms("+15551230000")
    assert provider_sim.clear_journal() == 1
    assert provider_sim.journal() == []
    provider_sim.send_sms("+15551230000")
    provider_sim.reset()
    assert provider_sim.journal() == []


@pytest.fixture(scope="module")
def small_journal():
    with SimulatorServer(Settings(db=":memory:", clock="manual", port=0, journal_size=5)) as server:
        with SimClient(server.url) as client:
            yield server, client


def test_journal_is_bounded(db):
    """Beside SQLite a ring buffer in the process; on PostgreSQL a capped table: the same bound, seen alike."""
    with SimulatorServer(Settings(db=db(), clock="manual", port=0, journal_size=5)) as server, \
            SimClient(server.url) as client:
        client.reset()
        for i in range(12):
            client.http.get(client.messages_path(), params={"limit": i + 1}, headers=client.bird_headers)
        data = client.http.get("/_sim/journal").json()
        assert data["count"] == 5 and data["size"] == 5 and data["dropped"] == 7
        assert [e["query"] for e in data["entries"]] == [f"limit={i}" for i in range(8, 13)]
        assert data["lastSeq"] == data["entries"][-1]["seq"]


def test_journal_on_postgresql_is_shared_and_outlives_the_process(db):
    """On PostgreSQL the journal is state in the store: a second process on the same database reads what the
    first journaled, a waiter sees another process's entry, and a restart finds them."""
    if not db.postgres:
        pytest.skip("beside SQLite one process owns the database, and the journal stays in that process")
    settings = Settings(db=db("shared"), clock="manual", port=0)
    with SimulatorServer(settings) as first, SimClient(first.url) as client:
        client.reset()
        client.send_sms("+15551230000", "from the first process")
        with SimulatorServer(settings) as second, SimClient(second.url) as other:
            assert len(other.journal(operation="send_message")) == 1
            other.http.get(other.messages_path(), headers=other.bird_headers)
            waited = client.http.post("/_sim/journal/wait", json={"operation": "list_channel_messages", "count": 1,
                                                                  "timeout": 5})
            assert waited.status_code == 200, waited.text
    with SimulatorServer(settings) as again, SimClient(again.url) as client:
        texts = [e["body"]["body"]["text"]["text"] for e in client.journal(operation="send_message")]
        assert texts == ["from the first process"]


def test_webhook_attempts_are_journaled_from_outbox_notices(small_journal, provider_sim_receiver):
    server, client = small_journal
    client.reset()
    provider_sim_receiver.set_responses([500])
    sim = server.sim

    async def enqueue() -> None:
        async with sim.store.transaction() as tx:
            await sim.outbox.enqueue(tx, provider="bird", event="sms.outbound", url=provider_sim_receiver.url + "/hook",
                                     headers={"content-type": "application/json", "x-signing-key": "topsecretkey1"},
                                     body=b'{"event":"sms.outbound","payload":{"id":"m1","status":"sent"}}',
                                     request_id="r1")

    server.call(enqueue())
    client.wait_for_journal(kind="webhook", count=1)
    client.advance(30)  # the retry
    entries = client.wait_for_webhook("sms.outbound", {"payload.status": "sent"}, count=2)
    assert [e["attempt"] for e in entries] == [1, 2]
    assert [e["response"]["status"] for e in entries] == [500, 200]
    assert [e["ok"] for e in entries] == [False, True]
    assert entries[0]["provider"] == "bird"
    assert entries[0]["headers"]["x-signing-key"] == "****key1"
    assert entries[0]["path"] == provider_sim_receiver.url + "/hook"


def test_wait_for_webhook_failure_lists_what_was_sent(provider_sim):
    with pytest.raises(AssertionError, match=r"Webhooks sent \(0\)"):
        provider_sim.wait_for_webhook("sms.outbound", {"payload.status": "delivered"}, timeout=0.05)


def test_export_scenario_replays(provider_sim):
    from simulator.replay.loader import load_scenario
    from simulator.replay.runner import run_scenario

    message = provider_sim.send_sms("+15551230001", "code 1")
    provider_sim.advance(10)
    provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/messages/{message['id']}",
                          headers=provider_sim.bird_headers)
    text = provider_sim.export_scenario("exported")
    doc = yaml.safe_load(text)
    assert doc["name"] == "exported"
    kinds = [next(k for k in step if k not in ("name", "note", "expect")) for step in doc["steps"]]
    assert kinds == ["request", "advance", "request"]
    assert "{{bird.workspace}}" in doc["steps"][0]["request"]["path"]
    assert "{{steps.r1.id}}" in doc["steps"][2]["request"]["path"]
    assert provider_sim.bird_key not in text
    result = run_scenario(load_scenario("exported.yaml", text=text), provider_sim)
    assert result.ok, result.failure


def test_export_leaves_out_a_body_nested_past_what_yaml_can_write(provider_sim):
    path = provider_sim.messages_path()
    # Valid JSON the journal keeps parsed (from about 500 levels it keeps the text); the YAML writer recursed
    # per level: from ~400 levels the export was a 500. Bird's side refuses it as too deep (400), the journal
    # still holds the request.
    deep = b"[" * 450 + b"]" * 450
    shallow = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]}, "body": {"type": "text",
               "text": {"text": "ok"}}}
    assert provider_sim.http.post(path, content=deep, headers={**provider_sim.bird_headers,
                                                               "content-type": "application/json"}).status_code == 400
    assert provider_sim.http.post(path, json=shallow, headers=provider_sim.bird_headers).status_code == 202
    response = provider_sim.http.get("/_sim/journal/export-scenario")
    assert response.status_code == 200, response.text
    steps = [s for s in yaml.safe_load(response.text)["steps"] if "request" in s]
    assert len(steps) == 2
    assert "json" not in steps[0]["request"] and "deeper than 64 levels" in steps[0]["note"]
    assert steps[0]["expect"] == {"status": 400}
    assert steps[1]["request"]["json"]["body"] == shallow["body"]  # nested 4 levels: exported as it was


def test_journal_wait_answers_408_with_what_matched(provider_sim):
    response = provider_sim.http.post("/_sim/journal/wait", json={"kind": "webhook", "count": 1, "timeout": 0.01})
    assert response.status_code == 408
    assert response.json()["matched"] is False


def test_journal_entries_do_not_grow_without_bound_under_asyncio(provider_sim):
    # The condition used by waits must survive clears from other requests.
    provider_sim.clear_journal()
    asyncio.run(asyncio.sleep(0))
    assert provider_sim.journal() == []


def test_business_chat_validation_failure_is_journaled_with_its_path(provider_sim):
    from simulator.replay.runner import _bc_jwt

    bc = provider_sim.info()["businessChat"]
    token = _bc_jwt(bc["mspId"], bc["secret"], provider_sim)
    business, customer = bc["businesses"][0]["id"], bc["customers"][0]["id"]
    body = {"v": 2, "id": "0b5f0c36-0000-4000-8000-000000000001", "type": "text", "sourceId": business,
            "destinationId": customer, "body": "hi"}
    response = provider_sim.http.post("/v1/message", json=body, headers={
        "authorization": f"Bearer {token}", "id": body["id"], "source-id": business, "destination-id": customer})
    assert response.status_code == 400
    [entry] = provider_sim.journal(provider="business_chat")
    assert entry["operation"] and entry["diagnostics"]["schemaPaths"]
    assert entry["headers"]["authorization"].startswith("Bearer ****")
    assert token not in str(entry)


def test_entries_are_built_on_read_from_any_body(provider_sim):
    """Entries are built when the journal is read: a body nested past the recursion limit, a binary one and a
    large one must still read back (as text, a size note, a truncated prefix), never a 5xx."""
    path = provider_sim.messages_path()
    headers = {**provider_sim.bird_headers, "content-type": "application/json"}
    assert provider_sim.http.post(path, content=b"[" * 5000 + b"]" * 5000, headers=headers).status_code == 400
    assert provider_sim.http.post(path, content=b"\x89PNG" + bytes(300),
                                  headers={**provider_sim.bird_headers, "content-type": "image/png"}).status_code == 415
    big = b'{"receiver": "' + b"x" * 40_000 + b'"}'
    assert provider_sim.http.post(path, content=big, headers=headers).status_code == 422
    response = provider_sim.http.get("/_sim/journal", params={"provider": "bird", "method": "POST"})
    assert response.status_code == 200, response.text
    deep, binary, large = [e for e in response.json()["entries"]][-3:]
    assert isinstance(deep["body"], str) and deep["body"].startswith("[[[")
    assert binary["body"] == "<304 bytes of image/png>"
    assert large["bodyTruncated"] is True and len(large["body"]) == 4096
