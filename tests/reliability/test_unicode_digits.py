"""Text that ``str.isdigit()`` accepts but ``int()`` refuses ("¹", "²": Unicode digits that are not decimal) used to
pass a digits check and then fail in int(): a 500, or, inside fault matching, a reset connection. Found by the
journal's Hypothesis fuzz (``since="¹"``)."""
from __future__ import annotations

import http.client
import json

import pytest

from simulator.testing import MISSING, dotted


@pytest.mark.parametrize("params", [{"since": "¹"}, {"since": "²³"}, {"sinceSeq": "¹"}, {"sinceSeq": "-¹"}])
def test_journal_filters(provider_sim, params):
    r = provider_sim.http.get("/_sim/journal", params=params)
    assert r.status_code == 400, r.text
    assert set(r.json()["error"]["details"]) == set(params)


@pytest.mark.parametrize("where", ["query", "body"])
@pytest.mark.parametrize("seed", ["¹", "-²"])
def test_reset_seed(provider_sim, where, seed):
    sent = provider_sim.send_sms("+15551230000")["id"]
    r = provider_sim.http.post("/_sim/reset", **({"params": {"seed": seed}} if where == "query"
                                                 else {"json": {"seed": seed}}))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"] == {"seed": ["invalid"]}
    assert provider_sim.http.get(provider_sim.messages_path() + f"/{sent}",
                                 headers=provider_sim.bird_headers).status_code == 200  # nothing was reset


def _same_connection(provider_sim, requests):
    """Send each (method, path, body) on one keep-alive connection; return the statuses, checking it stayed open."""
    host, port = provider_sim.http.base_url.host, provider_sim.http.base_url.port
    conn = http.client.HTTPConnection(host, port, timeout=10)
    statuses, sock = [], None
    for method, path, body in requests:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={**provider_sim.bird_headers, "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
        assert sock is None or conn.sock is sock, "the connection was closed under the client"
        sock = conn.sock
    conn.close()
    return statuses


def test_fault_rule_with_a_superscript_list_index_never_matches(provider_sim):
    r = provider_sim.http.post("/_sim/faults", json={"provider": "bird", "match": {"body.tags.¹": "otp"},
                                                      "status": 503})
    assert r.status_code == 201, r.text
    send = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
            "body": {"type": "text", "text": {"text": "hi"}}, "tags": ["a", "otp"]}
    assert _same_connection(provider_sim, [("POST", provider_sim.messages_path(), send),
                                           ("GET", provider_sim.messages_path(), None)]) == [202, 200]
    assert provider_sim.http.get("/_sim/faults").json()["rules"][0]["hits"] == 0


def test_receiver_fault_rule_reads_bodies_of_any_shape(provider_sim):
    r = provider_sim.http.post("/_sim/faults", json={"provider": "bird", "match": {"receiver": "+15551230000"},
                                                      "status": 503})
    assert r.status_code == 201, r.text
    batch = provider_sim.messages_path().rsplit("/messages", 1)[0] + "/batch/messages"
    statuses = _same_connection(provider_sim, [
        ("POST", provider_sim.messages_path(), {"receiver": {"contacts": 5}}),
        ("POST", provider_sim.messages_path(), {"receiver": {"contacts": "+15551230000"}}),
        ("POST", batch, {"messageRequests": [{"receiver": {"contacts": 5}}]}),
        ("POST", provider_sim.messages_path(), {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
                                                "body": {"type": "text", "text": {"text": "hi"}}}),
    ])
    assert statuses == [422, 422, 202, 503]  # the rule still fires where it matches


def test_dotted_reads_only_ascii_indexes():
    assert dotted({"a": [1, 2]}, "a.1") == 2 and dotted({"a": [1, 2]}, "a.-1") == 2
    assert dotted({"a": [1, 2]}, "a.¹") is MISSING
