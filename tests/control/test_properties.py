"""Hypothesis: the fault API and the journal endpoints answer 4xx (never 5xx) to whatever they are sent."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                    st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                           max_leaves=12)
rule_keys = st.sampled_from(["provider", "operation", "method", "match", "status", "code", "message", "retryAfter",
                             "latencyMs", "drop", "times", "probability", "id", "rules", "webhooks", "x"])
rule_like = st.dictionaries(rule_keys, json_values, max_size=6)
raw_bodies = st.one_of(st.binary(max_size=64), json_values.map(lambda v: json.dumps(v).encode()),
                       rule_like.map(lambda v: json.dumps(v).encode()))


@PROPS
@given(body=raw_bodies)
def test_fault_api_never_answers_5xx(provider_sim, body):
    response = provider_sim.http.post("/_sim/faults", content=body, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["message"]
    provider_sim.http.delete("/_sim/faults")


@PROPS
@given(body=raw_bodies)
def test_journal_wait_never_answers_5xx(provider_sim, body):
    if body.strip().startswith(b"{"):
        # Keep waits short: an accepted body must not block the test for long.
        try:
            data = json.loads(body)
            if isinstance(data, dict):
                data["timeout"] = 0
                body = json.dumps(data).encode()
        except ValueError:
            pass
    response = provider_sim.http.post("/_sim/journal/wait", content=body)
    assert response.status_code < 500, response.text


@PROPS
@given(params=st.dictionaries(st.sampled_from(["kind", "provider", "operation", "method", "status", "path", "since",
                                               "sinceSeq", "event", "limit", "bogus"]),
                              st.text(max_size=12), max_size=5))
def test_journal_query_never_answers_5xx(provider_sim, params):
    assert provider_sim.http.get("/_sim/journal", params=params).status_code < 500
    assert provider_sim.http.get("/_sim/journal/export-scenario", params=params).status_code < 500


@PROPS
@given(body=raw_bodies)
def test_reset_never_answers_5xx(provider_sim, body):
    data = None
    try:
        data = json.loads(body)
    except ValueError:
        pass
    if isinstance(data, dict) and not ({"workspace", "channel", "business", "customer"} & set(data)):
        return  # a valid full reset: fine, but not what this property is about
    assert provider_sim.http.post("/_sim/reset", content=body).status_code < 500


limit_like = st.dictionaries(st.sampled_from(["getPerSecond", "postPerSecond", "enabled", "x"]), json_values,
                             max_size=3)


@PROPS
@given(body=st.one_of(raw_bodies, limit_like.map(lambda v: json.dumps(v).encode())))
def test_bird_rate_limit_api_never_answers_5xx(provider_sim, body):
    response = provider_sim.http.put("/_sim/bird/rate-limits", content=body, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    state = provider_sim.http.get("/_sim/bird/rate-limits").json()
    if response.status_code == 200:
        assert response.json() == state
    provider_sim.http.put("/_sim/bird/rate-limits", json={"enabled": False})
