"""The last line of defence: an exception no handler expected (a simulator bug) is answered 500 in the provider's
shape, on the same keep-alive connection, and journaled with the error; the next request on it works."""
from __future__ import annotations

import http.client
import json

import pytest

from simulator.bird.provider import BirdProvider
from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient


def _answered_500_then_reused(server, request, follow_up):
    """Send ``request`` (method, path, body, headers), which a bug breaks, on one keep-alive connection, then
    ``follow_up`` (method, path, headers) on the same socket: (the 500's JSON, the follow-up's JSON)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    method, path, body, headers = request
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    assert response.status == 500
    payload = json.loads(response.read())
    sock = conn.sock
    assert sock is not None  # kept open: uvicorn did not close it under us
    method, path, headers = follow_up
    conn.request(method, path, headers=headers)
    again = conn.getresponse()
    assert again.status == 200 and conn.sock is sock
    answer = json.loads(again.read())
    conn.close()
    return payload, answer


def test_a_bug_is_a_500_in_birds_shape_and_the_connection_survives(db):
    with SimulatorServer(Settings(db=db(), clock="manual", port=0)) as server, SimClient(server.url) as sim:
        sender = server.sim.providers.get(BirdProvider).sender

        async def broken(*args, **kwargs):
            raise RuntimeError("boom")

        sender.send = broken
        body = json.dumps({"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
                           "body": {"type": "text", "text": {"text": "hi"}}})
        payload, listing = _answered_500_then_reused(
            server, ("POST", sim.messages_path(), body, {**sim.bird_headers, "Content-Type": "application/json"}),
            ("GET", sim.messages_path(), sim.bird_headers))
        assert payload == {"code": "InternalError", "message": "simulator bug: RuntimeError: boom"}
        assert listing["results"] == []
        entry = sim.journal(operation="send_message")[0]
        assert entry["response"]["status"] == 500 and entry["error"] == "RuntimeError: boom"


def test_a_bug_while_matching_fault_rules_is_answered_and_the_connection_survives(db):
    with SimulatorServer(Settings(db=db(), clock="manual", port=0)) as server, SimClient(server.url) as sim:
        assert sim.http.post("/_sim/faults", json={"provider": "bird", "match": {"receiver": "+1"},
                                                    "status": 503}).status_code == 201
        faults = server.sim.faults

        def broken(facts):
            raise KeyError("rule")

        faults.pick = broken
        payload, _ = _answered_500_then_reused(
            server, ("POST", sim.messages_path(), "{}", {**sim.bird_headers, "Content-Type": "application/json"}),
            ("GET", "/_sim/health", {}))
        assert payload == {"code": "InternalError", "message": "simulator bug: KeyError: 'rule'"}
        assert sim.journal(operation="send_message")[0]["error"] == "KeyError: 'rule'"


def test_a_bug_behind_an_unjournaled_control_route_is_answered_too(db):
    with SimulatorServer(Settings(db=db(), clock="manual", port=0)) as server:
        def broken() -> dict:
            raise ZeroDivisionError("division by zero")

        server.sim.clock.describe = broken
        payload, _ = _answered_500_then_reused(server, ("GET", "/_sim/clock", None, {}),
                                               ("GET", "/_sim/journal", {}))
        assert payload == {"error": {
            "code": "InternalError", "message": "simulator bug: ZeroDivisionError: division by zero"}}


@pytest.mark.parametrize(("raw", "status"), [
    # Python's json reads NaN and Infinity; JSON has neither, so a journal holding them could not be served.
    (b'{"receiver": {"contacts": [{"identifierValue": NaN}]}, "body": Infinity}', 400),
    # 1e999 is read as infinity (Go's encoding/json refuses it: out of range).
    (b'{"receiver": {"contacts": [{"identifierValue": 1e999}]}}', 400),
    # An escaped lone surrogate parses into a str that UTF-8 cannot encode (the API reads it as U+FFFD; no body: 422).
    (b'{"receiver": {"contacts": [{"identifierValue": "\\ud800"}]}}', 422),
    # The same surrogate UTF-8-encoded (not UTF-8 text): json.loads(bytes) reads it anyway ("surrogatepass").
    (b'{"receiver": {"contacts": [{"identifierValue": "\xed\xa0\x80"}]}}', 400),
])
def test_a_body_json_cannot_carry_is_journaled_as_text_and_the_journal_stays_readable(provider_sim, raw, status):
    r = provider_sim.http.post(provider_sim.messages_path(), content=raw,
                               headers={**provider_sim.bird_headers, "Content-Type": "application/json"})
    assert r.status_code == status, r.text
    listing = provider_sim.http.get("/_sim/journal")
    assert listing.status_code == 200, listing.text
    entry = next(e for e in listing.json()["entries"] if e["operation"] == "send_message")
    assert entry["body"] == raw.decode("utf-8", errors="replace")
    waited = provider_sim.http.post("/_sim/journal/wait", json={"operation": "send_message", "timeout": 1})
    assert waited.status_code == 200, waited.text


def test_a_lone_surrogate_escape_is_read_as_u_fffd_as_gos_json_does(provider_sim):
    raw = (b'{"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},'
           b' "body": {"type": "text", "text": {"text": "half \\ud83d of an emoji, whole \\ud83d\\ude00"}}}')
    r = provider_sim.http.post(provider_sim.messages_path(), content=raw,
                               headers={**provider_sim.bird_headers, "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    stored = provider_sim.get_message(r.json()["id"])
    assert stored["body"]["text"]["text"] == "half \ufffd of an emoji, whole \U0001f600"
