"""The send conforms to Bird's published OpenAPI document both ways (tests/bird/openapi_fuzz.py says where it is
from and how requests are built from it), fuzzed through HTTP against a running simulator:

- every request the document declares valid passes the simulator's schema (schemas/bird/send-message.json).
  Bird's documented rules for SMS (validation.py: one E.164 receiver, body types an SMS channel carries, MMS to
  US/CA numbers, the 35-day scheduling window, capFrequency for marketing, media over http(s), URLs the simulator
  may call, a contact id that exists) may still refuse it, with Bird's 422 shape: that is the split, and
  ``test_valid_requests_that_meet_birds_sms_rules_are_sent`` shows the rules are all there is between a valid
  request and a 202;
- every request it declares invalid (one change away from a valid one: a wrong type at one path, null where it
  is not nullable, a missing property, an unknown property in a closed object) gets a 422 naming that path;
- every 202 and 4xx body validates against the response schemas the document gives for its status.

Derandomized, with fixed example counts, so CI sees the same requests every run.
"""
from __future__ import annotations

import json
import random
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from simulator.core.schemas import SchemaStore
from simulator.testing import SimClient
from tests.bird.openapi_fuzz import UNKNOWN, Document, Generator, Mutation, first_invalid, jq, mutations

DOC = Document.load()
GEN = Generator(DOC)
REQUEST = DOC.validator("CreateMessage")
RESPONSES = {status: DOC.validator(DOC.response_schema(status)) for status in (202, 400, 404, 409, 422)}
SCHEMAS = SchemaStore()

VALID_EXAMPLES, SENDABLE_EXAMPLES, INVALID_EXAMPLES = 400, 250, 600
# No shrinking: a departure is reported as drawn, well within the test timeout.
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])

valid_requests = GEN.component("CreateMessage").filter(REQUEST.is_valid)
us_numbers = st.from_regex(r"\+1555[0-9]{7}", fullmatch=True)


@pytest.fixture(scope="module")
def client(provider_sim_server):
    with SimClient(provider_sim_server.url) as sim:
        sim.reset()
        yield sim


def post(client: SimClient, body: Any) -> Any:
    return client.http.post(client.messages_path(), json=body, headers=client.bird_headers)


def answer_departures(response: Any) -> list[str]:
    """What in the answer breaks the document: a status it does not list, or a body its schema refuses."""
    validator = RESPONSES.get(response.status_code)
    if validator is None:
        return [f"status {response.status_code} is not one the document lists: {response.text[:300]}"]
    return [f"{response.status_code} body at {jq(tuple(e.absolute_path))}: {e.message[:200]}"
            for e in validator.iter_errors(response.json())]


def valid_departures(client: SimClient, body: dict[str, Any]) -> list[str]:
    found = [f"schema refuses a valid request at {i.jq_path()}: {i.message}"
             for i in SCHEMAS.issues("bird/send-message", body)]
    response = post(client, body)
    if response.status_code not in (202, 422):
        found.append(f"valid request answered {response.status_code}: {response.text[:300]}")
    return found + answer_departures(response)


def invalid_departures(client: SimClient, mutation: Mutation, body: dict[str, Any]) -> list[str]:
    response = post(client, body)
    if response.status_code != 422:
        return [f"{mutation} answered {response.status_code}, not 422", *answer_departures(response)]
    details = response.json().get("details") or {}
    want = mutation.expected()
    # A replacement that is itself incomplete ({} for an object) is named by what it lacks, under the path.
    under = (want + ".", want + "[") if want != "." else ()
    named = want in details or any(k.startswith(under) for k in details if under)
    if mutation.kind == "extra":
        # On the object that holds it, or under its own name where the object's other values have a schema.
        named = any(UNKNOWN in m for m in details.get(want, [])) or jq((*mutation.path, UNKNOWN)) in details
    elif mutation.kind == "drop" and not named:
        # "value or reference": a missing one of two alternatives may be named by the other.
        parent = jq(mutation.path[:-1]) if len(mutation.path) > 1 else ""
        named = any(k.rsplit(".", 1)[0] == parent for k in details if k.startswith(parent + "."))
    found = [] if named else [f"{mutation}: 422 does not name {want}: {details}"]
    return found + answer_departures(response)


def sms_ready(body: dict[str, Any], draw: Any, now_ms: int) -> dict[str, Any]:
    """``body`` changed only where Bird's SMS rules need it (still valid by the document)."""
    out = dict(body)
    contacts = (out.get("receiver") or {}).get("contacts") or [{}]
    contact = {k: v for k, v in contacts[0].items() if k in ("type", "platformAddressSelector", "identifiers")}
    out["receiver"] = {"contacts": [{**contact, "identifierValue": draw(us_numbers)}]}
    if out.get("body") is not None and out.get("template") is not None:
        del out["template"]
    if (out.get("body") is None and out.get("template") is None) or (
            out.get("body") is not None and out["body"]["type"] not in ("text", "image", "file")):
        out["body"] = draw(GEN.component("TypeText"))
    kind = (out.get("body") or {}).get("type")
    if kind in ("image", "file"):
        content = out["body"] = {**out["body"], kind: dict(out["body"][kind])}
        key = "images" if kind == "image" else "files"
        items = [dict(item) for item in content[kind][key]] or [{"mediaUrl": ""}]
        for item in items:
            item["mediaUrl"] = "https://media.example/picture.png"
            if kind == "file":
                item["contentType"] = "image/png"
        content[kind][key] = items
    elif kind == "text" and out["body"]["text"].get("attachments"):
        text = out["body"] = {**out["body"], "text": dict(out["body"]["text"])}
        text["text"]["attachments"] = [{**a, "mediaUrl": "https://media.example/a.pdf"}
                                       for a in text["text"]["attachments"]]
    if "scheduledFor" in out:
        when = draw(st.integers(now_ms - 400 * 86_400_000, now_ms + 30 * 86_400_000))
        out["scheduledFor"] = datetime.fromtimestamp(when / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if out.get("capFrequency"):
        out["capFrequency"] = False
    if isinstance(out.get("notification"), dict) and out["notification"].get("url"):
        out["notification"] = {**out["notification"], "url": ""}
    if isinstance(out.get("validity"), int) and out["validity"] > 2**31 - 1:
        out["validity"] = 2**31 - 1
    return out


@settings(FUZZ, max_examples=VALID_EXAMPLES)
@given(body=valid_requests)
def test_every_valid_request_passes_the_schema(client, body):
    assert valid_departures(client, body) == []


@settings(FUZZ, max_examples=SENDABLE_EXAMPLES)
@given(data=st.data())
def test_valid_requests_that_meet_birds_sms_rules_are_sent(client, data):
    body = sms_ready(data.draw(valid_requests), data.draw, client.clock()["nowMs"])
    assert REQUEST.is_valid(body), [e.message for e in REQUEST.iter_errors(body)]
    response = post(client, body)
    assert response.status_code == 202, response.text
    assert answer_departures(response) == []


@settings(FUZZ, max_examples=INVALID_EXAMPLES)
@given(data=st.data(), shuffle=st.randoms(use_true_random=False))
def test_every_invalid_request_is_refused_naming_the_path(client, data, shuffle: random.Random):
    body = data.draw(valid_requests)
    if data.draw(st.booleans()):  # from a request that would be sent: the mutation is its only problem
        body = sms_ready(body, data.draw, client.clock()["nowMs"])
    # A kind first, then a place: unknown properties, the most places, do not crowd out the rest. The kind follows
    # from the request (hypothesis would favour the first of a list drawn from).
    kind = ("drop", "null", "extra", "type")[zlib.crc32(json.dumps(body, sort_keys=True).encode()) % 4]
    candidates = mutations(body)
    shuffle.shuffle(candidates)
    candidates.sort(key=lambda m: m.kind != kind)
    found = first_invalid(body, candidates, REQUEST)
    assume(found is not None)
    assert found is not None
    assert invalid_departures(client, *found) == []


TEXT = {"type": "text", "text": {"text": "hi"}}
RECEIVER = {"contacts": [{"identifierValue": "+15551230077"}]}


@pytest.mark.parametrize("extra", [
    # Departures the issue found with schemathesis, each now a fixed case.
    {"meta": {"flow": {"id": None, "name": None, "stepId": None, "runId": None}}},
    {"meta": {"campaign": {"id": "0b3f5e2a-0000-4000-8000-00000000b1d0", "name": None}}},
    {"meta": {"referral": {"metadata": {"media_url": None, "source_url": None}, "title": None}}},
    {"template": None, "shortLinks": None},
    {"body": {"type": "text", "text": {"text": "hi", "attachments": None, "actions": None}}},
    {"body": {"type": "text", "text": {"text": "hi", "actions": [
        {"type": "link", "link": {"text": "go", "url": "https://example.com/a"}},
        {"type": "link", "link": {"text": "go", "url": "{{link}}"}}]}}},
    {"scheduledFor": "0001-01-01T01:01:00Z"},
    {"scheduledFor": "0999-12-31T23:59:59.5+02:00"},
])
def test_documented_valid_cases_are_sent(provider_sim, extra):
    body = {"receiver": RECEIVER, "body": TEXT, **extra}
    assert REQUEST.is_valid(body)
    response = post(provider_sim, body)
    assert response.status_code == 202, response.text
    assert answer_departures(response) == []
    if "scheduledFor" in extra:
        assert response.json()["scheduledFor"][:4] == extra["scheduledFor"][:4]


def link_action(url: Any) -> dict[str, Any]:
    return {"type": "text", "text": {"text": "hi", "actions": [{"type": "link", "link": {"text": "t", "url": url}}]}}


@pytest.mark.parametrize(("extra", "path"), [
    ({"body": link_action(None)}, ".body.text.actions[0].link.url"),
    ({"body": link_action(42)}, ".body.text.actions[0].link.url"),
    ({"meta": {"flow": {"id": []}}}, ".meta.flow.id"),
    ({"meta": {"journey": {"stepId": 5}}}, ".meta.journey.stepId"),
    ({"meta": {"campaign": {"name": 5}}}, ".meta.campaign.name"),
    ({"meta": {"referral": {"metadata": {"media_url": False}}}}, ".meta.referral.metadata.media_url"),
    ({"template": {"settings": {"disallowMmLite": "yes"}}, "body": None}, ".template.settings.disallowMmLite"),
])
def test_documented_invalid_cases_are_refused(provider_sim, extra, path):
    body = {"receiver": RECEIVER, "body": TEXT, **extra}
    assert not REQUEST.is_valid(body)
    response = post(provider_sim, body)
    assert response.status_code == 422, response.text
    assert path in response.json()["details"], response.json()
    assert answer_departures(response) == []


def test_template_send_with_every_nullable_field_null(provider_sim):
    template = {"name": "welcome", "projectId": "p1", "version": "v1", "locale": "en-US", "attachments": None,
                "shortLinks": None, "variables": None, "utmParameters": None, "parameters": None, "settings": None}
    body = {"receiver": RECEIVER, "template": template, "body": None}
    assert REQUEST.is_valid(body)
    response = post(provider_sim, body)
    assert response.status_code == 202, response.text
    assert response.json()["template"] == template
    assert answer_departures(response) == []


def test_request_errors_match_the_document(provider_sim):
    """400 (malformed JSON) and 404 (unknown channel) answer Bird's RequestError; 422 its ValidationError."""
    path = provider_sim.messages_path()
    malformed = provider_sim.http.post(path, content=b"{", headers={**provider_sim.bird_headers,
                                                                     "Content-Type": "application/json"})
    unknown = provider_sim.http.post(path.replace(provider_sim.channel_id(), "7c0f4a8e-0000-4000-8000-0000000000ff"),
                                     json={"receiver": RECEIVER, "body": TEXT}, headers=provider_sim.bird_headers)
    not_an_object = post(provider_sim, [])
    assert [malformed.status_code, unknown.status_code, not_an_object.status_code] == [400, 404, 422]
    for response in (malformed, unknown, not_an_object):
        assert answer_departures(response) == []


def test_messages_read_back_match_the_document_at_every_status(provider_sim):
    """The same Message schema holds for the message as read back once its lifecycle has run: every magic number's
    outcome (delivered, failed with a failure object, rejected, skipped, expired), a batch item rejected for its
    content, a message sent with a template and one scheduled."""
    sent = [provider_sim.send_sms(f"+1555123000{n}")["id"] for n in range(8)]
    sent.append(post(provider_sim, {"receiver": RECEIVER, "template": {"name": "t", "parameters": None}}).json()["id"])
    later = datetime.fromtimestamp(provider_sim.clock()["nowMs"] / 1000 + 3600, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sent.append(provider_sim.send_sms("+15551230010", scheduledFor=later)["id"])
    batch = provider_sim.http.post(
        provider_sim.messages_path().replace("/messages", "/batch/messages"), headers=provider_sim.bird_headers,
        json={"messageRequests": [{"receiver": RECEIVER, "body": None}]})
    assert batch.status_code == 202, batch.text
    provider_sim.advance(3 * 24 * 3600)
    listed = provider_sim.http.get(provider_sim.messages_path(), params={"limit": 100},
                                   headers=provider_sim.bird_headers).json()["results"]
    statuses = {m["status"] for m in listed}
    assert {"delivered", "delivery_failed", "sending_failed", "rejected", "skipped", "sent"} <= statuses, statuses
    assert {m["id"] for m in listed} >= set(sent)
    for message in listed:
        errors = [f"{jq(tuple(e.absolute_path))}: {e.message[:200]}" for e in RESPONSES[202].iter_errors(message)]
        assert errors == [], (message["status"], errors)
