"""Business Chat's behaviours counted through HTTP (GET /_sim/coverage?provider=business_chat): each message type the
business sends, each kind of answer (a list picker with several items, authentication and Apple Pay both ways), the
customer's text, typing, tapback, close and reopen, refusals (JWT, closed conversation) and webhook retries."""
from __future__ import annotations

import base64
import time
from typing import Any

import jwt
from bc_msp import MSP, PNG, customer_path
from test_interactive import PAYMENT, QUICK

PICKER = {"sections": [{"title": "S", "order": 0, "multipleSelection": True, "items": [
    {"identifier": "1", "title": "A", "order": 0, "style": "default"},
    {"identifier": "2", "title": "B", "order": 1, "style": "default"}]}]}
AUTH = {"oauth2": {"responseType": "code", "scope": ["openid"], "state": "n1",
                   "redirectURI": "https://msp.example.com/cb"}}


def met(sim: Any, msp: MSP) -> dict[str, int]:
    return {k: v for k, v in sim.coverage_counts("business_chat", business=msp.business).items() if v}


def ok(response: Any) -> None:
    assert response.status_code == 200, response.text


def test_messages_answers_and_customer_actions(provider_sim: Any, msp: MSP) -> None:
    provider_sim.reset_coverage()
    ok(msp.send_text("hello"))
    ok(msp.send(msp.envelope("typing_start")))
    ok(msp.send(msp.envelope("richLink", richLinkData={
        "url": "https://example.com", "title": "Example",
        "assets": {"image": {"data": base64.b64encode(PNG).decode(), "mimeType": "image/png"}}})))
    answer = customer_path(msp) + "/answer/"
    ok(msp.send(msp.interactive("listPicker", PICKER)))
    ok(provider_sim.http.post(answer + "list-picker", json={"items": ["1", "2"]}))
    ok(msp.send(msp.interactive("listPicker", PICKER)))
    ok(provider_sim.http.post(answer + "list-picker", json={"items": ["2"]}))
    ok(msp.send(msp.interactive("quick-reply", QUICK), **{"include-data-ref": "true"}))
    ok(provider_sim.http.post(answer + "quick-reply", json={"item": "1"}))
    ok(msp.send(msp.interactive("authenticate", AUTH)))
    ok(provider_sim.http.post(answer + "authentication", json={"result": "fail"}))
    ok(msp.send(msp.interactive("authenticate", AUTH), path="/v1/authenticate"))
    ok(provider_sim.http.post(answer + "authentication", json={"token": "t"}))
    ok(msp.send(msp.interactive("payment", PAYMENT)))
    ok(provider_sim.http.post(answer + "apple-pay", json={"approve": False}))
    ok(provider_sim.http.post(customer_path(msp) + "/text", json={"text": "thanks"}))
    ok(provider_sim.http.post(customer_path(msp) + "/tapback", json={"reaction": "love"}))
    ok(provider_sim.http.post(customer_path(msp) + "/close"))
    refused = msp.send_text("still there?")
    assert refused.status_code == 410
    ok(provider_sim.http.post(customer_path(msp) + "/text", json={"text": "back again"}))
    counts = met(provider_sim, msp)
    assert counts == {
        "send.text": 1, "send.typing": 1, "send.rich_link": 1, "send.list_picker": 2, "send.quick_reply": 1,
        "send.by_reference": 1, "send.authentication": 2, "send.apple_pay": 1,
        "answer.list_picker_multiple": 1, "answer.list_picker": 1, "answer.quick_reply": 1,
        "auth.failure": 1, "auth.success": 1, "apple_pay.failed": 1,
        "customer.text": 2, "customer.typing": 2, "customer.tapback": 1, "customer.close": 1,
        "customer.reopen": 1, "conversation_closed": 1}, counts
    unmet = {u["id"]: u for u in provider_sim.coverage(provider="business_chat")["unmet"]}
    assert "apple_pay.approved" in unmet and "STATUS_SUCCESS" in unmet["apple_pay.approved"]["provoke"]
    assert "customer.reopen" not in unmet
    assert provider_sim.coverage_counts("business_chat", business="another-business")["send.text"] == 0


def test_refusals_and_webhook_retries(provider_sim: Any, hooked: MSP) -> None:
    provider_sim.reset_coverage()
    body = hooked.envelope("text", body="hi")
    h = {"id": body["id"], "source-id": hooked.business, "destination-id": hooked.customer}
    assert hooked.http.post("/v1/message", json=body, headers=h).status_code == 401
    forged = jwt.encode({"iss": hooked.msp_id, "iat": int(time.time())}, bytes(range(32)), algorithm="HS256")
    assert hooked.http.post("/v1/message", json=body,
                            headers={**h, "Authorization": f"Bearer {forged}"}).status_code == 403
    assert hooked.send(hooked.envelope("text")).status_code == 400  # a text needs a body
    hooked.receiver.set_responses([500])  # type: ignore[attr-defined]
    ok(provider_sim.http.post(customer_path(hooked) + "/text", json={"text": "retry me", "typing": False}))
    provider_sim.advance(1)
    hooked.receiver.wait_for(1)  # type: ignore[attr-defined]
    provider_sim.advance(31)
    hooked.receiver.wait_for(2)  # type: ignore[attr-defined]
    counts = met(provider_sim, hooked)
    assert counts == {"api_error.401": 1, "jwt_rejected": 1, "api_error.400": 1, "customer.text": 1,
                      "webhook.error_answer": 1, "webhook.retried": 1}, counts
