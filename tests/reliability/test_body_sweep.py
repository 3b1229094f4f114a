"""Every part of a valid request body (each JSON path), for the provider and control endpoints that take one,
replaced by one value of each JSON type or removed: never a 5xx. Exhaustive for single-point type confusion
and deterministic, where random documents rarely get past the first check. (Bird's send is swept by Hypothesis
in test_fuzz.py, Business Chat's interactive messages in tests/business_chat.)"""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from _support import REMOVED, swapped_or_removed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "business_chat"))
from bc_msp import MSP, PNG  # noqa: E402

from simulator.core.clock import iso_ms  # noqa: E402

REPLACEMENTS = [None, True, 0, -1, 2**70, 1.5, "", "x", "\u0000", [], {}, [1], ["1"], [{}], {"x": 1}, [None]]
NUMBER_ID = "3f0c1a52-7d44-4c2e-9d0b-2a8f6b1c9e01"


def _rows(sim: Any, msp: MSP, message_id: str) -> dict[str, tuple[str, str, dict[str, Any], dict[str, str]]]:
    ws, ch, mms = sim.workspace_id, sim.channel_id(), sim.channel_id(mms=True)
    bird = sim.bird_headers
    customer = f"/_sim/business-chat/businesses/{msp.business}/customers/{msp.customer}"
    return {
        "bird inbound": ("POST", "/_sim/bird/inbound", {
            "channelId": mms, "from": "+15557654321", "text": "hi",
            "media": [{"contentType": "image/png", "filename": "a.png", "base64": base64.b64encode(PNG).decode()}]},
            {}),
        "connector install": ("POST", f"/workspaces/{ws}/connectors", {
            "name": "Alerts NL", "connectorTemplateRef": "sms-messagebird:1",
            "arguments": {"phoneNumberId": NUMBER_ID, "channelMessageType": "transactional",
                          "phoneNumber": "+3197010250001"}}, bird),
        "contact create": ("POST", f"/workspaces/{ws}/contacts", {
            "displayName": "Ana", "identifiers": [{"key": "phonenumber", "value": "+15551230020"}]}, bird),
        "webhook subscription": ("POST", f"/workspaces/{ws}/webhook-subscriptions", {
            "service": "channels", "event": "sms.outbound", "url": "http://127.0.0.1:9/h", "signingKey": "k",
            "eventFilters": [{"key": "channelId", "value": ch}]}, bird),
        "presigned upload": ("POST", f"/workspaces/{ws}/channels/{mms}/presigned-upload",
                             {"contentType": "image/png"}, bird),
        "batch": ("POST", f"/workspaces/{ws}/channels/{ch}/batch/messages", {"messageRequests": [
            {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
             "body": {"type": "text", "text": {"text": "hi"}}}]}, bird),
        "force status": ("POST", f"/_sim/bird/messages/{message_id}/status", {"status": "delivery_failed"}, {}),
        "link click": ("POST", f"/_sim/bird/messages/{message_id}/click", {"url": "https://example.com/a"}, {}),
        "rate limits": ("PUT", "/_sim/bird/rate-limits", {"getPerSecond": 3, "postPerSecond": 2}, {}),
        "webhook knobs": ("PUT", "/_sim/webhooks",
                          {"delaySeconds": 1, "duplicateProbability": 0.5}, {}),
        "faults": ("POST", "/_sim/faults", {"rules": [{"status": 500, "provider": "bird", "times": 1,
                                                       "latencyMs": {"min": 1, "max": 2}}]}, {}),
        "customer create": ("POST", "/_sim/business-chat/customers", {
            "businessId": msp.business, "existingConversation": True, "capabilities": ["LIST"],
            "deviceAgent": "iPhone OS", "locale": "en_US", "name": "x",
            "behaviour": {"reply_to_text": {"text": "ok", "after_seconds": 1}}}, {}),
        "customer text": ("POST", customer + "/text", {"text": "hi", "typing": False, "intent": "a", "group": "b"}, {}),
        "customer attachment": ("POST", customer + "/attachment", {
            "name": "a.pdf", "mimeType": "application/pdf", "data": base64.b64encode(b"%PDF-1.4 x").decode()}, {}),
        "customer tapback": ("POST", customer + "/tapback", {"reaction": "like"}, {}),
        "business endpoints": ("POST", f"/_sim/business-chat/businesses/{msp.business}",
                               {"webhookUrl": "http://127.0.0.1:9/x"}, {}),
        "clock advance": ("POST", "/_sim/clock/advance", {"seconds": 1}, {}),
        "send": ("POST", sim.messages_path(), {
            "receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
            "body": {"type": "text", "text": {"text": "hi"}}, "reference": "r", "validity": 60, "tags": ["a"],
            "meta": {"extraInformation": {"k": 1}}, "scheduledFor": iso_ms(sim.clock()["nowMs"] + 86_400_000),
            "notification": {"url": "http://127.0.0.1:9/x"}}, bird),
    }


ROWS = ["bird inbound", "connector install", "contact create", "webhook subscription", "presigned upload", "batch",
        "force status", "link click", "rate limits", "webhook knobs", "faults", "customer create", "customer text",
        "customer attachment", "customer tapback", "business endpoints", "clock advance"]


@pytest.mark.parametrize("row", ROWS)
def test_every_part_of_a_valid_body_swapped_or_removed_never_5xx(provider_sim: Any, row: str) -> None:
    msp = MSP(provider_sim)
    msp.send_text("Your order shipped")  # something for the tapback to react to
    sms = provider_sim.send_sms("+15551230000", "see https://example.com/a")
    method, path, valid, headers = _rows(provider_sim, msp, sms["id"])[row]
    headers = {**headers, "content-type": "application/json"}
    first = provider_sim.http.request(method, path, json=valid, headers=headers)
    assert first.status_code < 300, (row, first.text)  # the sample is valid: the variants reach past the schema
    for where, replacement, body in swapped_or_removed(valid, REPLACEMENTS):
        r = provider_sim.http.request(method, path, json=body, headers=headers)
        assert r.status_code < 500, (row, where, replacement, r.text)
    provider_sim.advance(60)  # whatever was accepted runs its course (replies, deliveries, transitions)
    for check in ("/_sim/journal", "/_sim/outbox", f"/_sim/business-chat/customers/{msp.customer}/device",
                  "/_sim/bird/messages"):
        assert provider_sim.http.get(check).status_code == 200, check


# Values at the edges of what JSON can carry, as raw JSON text (Python's json would not write most of them): a
# 5,001-digit integer (past int()'s 4,300-digit limit), underflow, negative zero, past 64 bits, a digit int() refuses,
# a lone surrogate, 200 KB of text, 3,000-deep nesting, impossible and extreme dates, traversal, header injection.
EDGE_VALUES = ["1" + "0" * 5000, "1e-400", "-0", "-0.0", "1.7976931348623157e308", "-9223372036854775809",
               "18446744073709551616", '"\\u00b9"', '"\\ud800"', '"' + "x" * 200_000 + '"', "[" * 3000 + "]" * 3000,
               '"2025-13-45T99:99:99Z"', '"0000-01-01T00:00:00Z"', '"9999-12-31T23:59:59-23:59"',
               '"../../etc/passwd"', '"\\r\\nX-Injected: 1"', '"\\u0000"']
MARK = "__edge_value__"


@pytest.mark.parametrize("row", [*ROWS, "send"])
def test_every_part_of_a_valid_body_set_to_an_edge_value_never_5xx(provider_sim: Any, row: str) -> None:
    msp = MSP(provider_sim)
    msp.send_text("Your order shipped")
    sms = provider_sim.send_sms("+15551230000", "see https://example.com/a")
    method, path, valid, headers = _rows(provider_sim, msp, sms["id"])[row]
    headers = {**headers, "content-type": "application/json"}
    first = provider_sim.http.request(method, path, json=valid, headers=headers)
    assert first.status_code < 300, (row, first.text)
    for where, replacement, body in swapped_or_removed(valid, [MARK]):
        if replacement is REMOVED:
            continue  # the other sweep's
        text = json.dumps(body)
        for edge in EDGE_VALUES:
            r = provider_sim.http.request(method, path, content=text.replace(json.dumps(MARK), edge).encode(),
                                          headers=headers)
            assert r.status_code < 500, (row, where, edge[:40], r.text[:300])
    provider_sim.advance(60)
    for check in ("/_sim/journal", "/_sim/outbox", "/_sim/bird/messages"):
        assert provider_sim.http.get(check).status_code == 200, check
