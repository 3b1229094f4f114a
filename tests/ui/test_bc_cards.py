"""Business Chat cards on the phone view that test_ui_browser.py does not cover: Apple Pay, sign-in (OAuth),
form and rich link. Each business message goes through the real, JWT-signed POST /v1/message; the page is
opened first and never reloaded (the card arrives over /_sim/events). Where the card has buttons, clicking
one answers as the customer, and the test checks the signed, gzipped webhook the business receives."""
from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(90)

BID = ("com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:"
       "com.apple.icloud.apps.messages.business.extension")

PAYMENT = {
    "paymentRequest": {
        "lineItems": [{"label": "Tasting menu", "amount": "42.00", "type": "final"},
                      {"label": "Service", "amount": "3.50", "type": "final"}],
        "total": {"label": "Due today", "amount": "45.50", "type": "final"},
        "applePay": {"merchantIdentifier": "merchant.com.example", "supportedNetworks": ["visa"],
                     "merchantCapabilities": ["supports3DS"]},
        "merchantName": "Chez Simu", "countryCode": "FR", "currencyCode": "EUR"},
    "merchantSession": {"epochTimestamp": 1},
}
FORM = {"version": "1.1", "template": "messageForms", "data": {"startPageIdentifier": "p1", "pages": [
    {"pageIdentifier": "p1", "type": "select", "title": "Drink", "multipleSelection": False,
     "items": [{"identifier": "tea", "title": "Tea"}, {"identifier": "coffee", "title": "Coffee"}]},
    {"pageIdentifier": "p2", "type": "input", "title": "Name", "submitForm": True,
     "options": {"placeholder": "Your name"}}]}}


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _open(page: Any, sim: Any) -> None:
    if sim.http.get("/_sim/business-chat").status_code == 404:
        pytest.skip("Business Chat is not in this build (issue 4)")
    page.goto("/_sim/ui/#/business-chat")
    page.wait_for_selector('#live[data-state="live"]')
    _expect()(page.locator("#bc-thread-heading")).to_have_text("Ana's phone")


class _MSP:
    """A messaging service provider: JWT-signed /v1/message calls; replies are gunzipped and their JWT checked."""

    def __init__(self, sim: Any, receiver: Any) -> None:
        info = sim.http.get("/_sim/business-chat").json()
        self.sim = sim
        self.receiver = receiver
        self.msp_id = info["mspId"]
        self.secret = base64.b64decode(info["secret"])
        self.business = info["businesses"][0]
        self.customer = sim.http.get("/_sim/business-chat/customers").json()["customers"][0]["id"]
        r = sim.http.post(f"/_sim/business-chat/businesses/{self.business}", json={"webhookUrl": receiver.url})
        assert r.status_code == 200, r.text

    def send(self, kind: str, **fields: Any) -> dict[str, Any]:
        import jwt

        body = {"v": 1, "id": str(uuid.uuid4()), "type": kind, "sourceId": self.business,
                "destinationId": self.customer, **fields}
        token = jwt.encode({"iss": self.msp_id, "iat": int(time.time())}, self.secret, algorithm="HS256")
        r = self.sim.http.post("/v1/message", content=json.dumps(body).encode(), headers={
            "Authorization": f"Bearer {token}", "id": body["id"], "source-id": self.business,
            "destination-id": self.customer, "content-type": "application/json"})
        assert r.status_code == 200, r.text
        return body

    def interactive(self, feature: str, value: Any, title: str, subtitle: str | None = None) -> dict[str, Any]:
        """No replyMessage: the device then titles its reply itself ("Paid 45.50", "Signed in", ...)."""
        received = {"title": title, **({"subtitle": subtitle} if subtitle else {})}
        return self.send("interactive", interactiveData={
            "bid": BID, "receivedMessage": received,
            "data": {"version": "1.0", "requestIdentifier": str(uuid.uuid4()), feature: value}})

    def webhooks(self, count: int) -> list[dict[str, Any]]:
        """The first ``count`` webhook bodies (not the payment gateway's calls), verified and decoded."""
        import jwt

        self.sim.advance(1)  # the outbox delivers on the simulated clock
        deadline = time.monotonic() + 10
        while True:
            hooks = [r for r in self.receiver.requests if r.path != "/paymentGateway"]
            if len(hooks) >= count or time.monotonic() > deadline:
                break
            self.receiver.wait_for(len(self.receiver.requests) + 1, timeout=max(0.1, deadline - time.monotonic()))
        assert len(hooks) >= count, f"expected {count} webhook(s), got {[r.path for r in self.receiver.requests]}"
        out = []
        for request in hooks[:count]:
            token = request.header("authorization").split(" ", 1)[1]
            jwt.decode(token, self.secret, algorithms=["HS256"], audience=self.msp_id)
            body = json.loads(gzip.decompress(request.body))
            assert body["type"] == "interactive", body
            assert body["sourceId"] == self.customer and body["destinationId"] == self.business, body
            out.append(body)
        return out


def _card(page: Any, message: dict[str, Any]) -> Any:
    return page.locator(f'#bc-thread li[data-id="{message["id"]}"]')


def _request_id(message: dict[str, Any]) -> str:
    return message["interactiveData"]["data"]["requestIdentifier"]  # type: ignore[no-any-return]


def test_apple_pay_card_pay_and_cancel(ui_page: Any, provider_sim: Any, provider_sim_receiver: Any) -> None:
    expect = _expect()
    page = ui_page
    _open(page, provider_sim)
    msp = _MSP(provider_sim, provider_sim_receiver)
    payment = {**PAYMENT, "endpoints": {"paymentGatewayUrl": provider_sim_receiver.url + "/paymentGateway"}}
    provider_sim_receiver.set_responses([(200, b'{"status": "STATUS_SUCCESS"}')])  # the gateway approves

    paid = msp.interactive("payment", payment, "Your dinner", "Table 12")
    li = _card(page, paid)
    card = li.get_by_role("group", name="Apple Pay")
    expect(card).to_be_visible()  # arrives without a reload
    assert li.get_attribute("data-feature") == "payment"
    expect(card.locator(".card-title")).to_have_text("Your dinner")
    expect(card.locator(".card-sub").first).to_have_text("Table 12")
    expect(card.locator(".card-sub").nth(1)).to_have_text("Pay Chez Simu (FR)")
    expect(card.locator(".pay-lines dt")).to_have_text(["Tasting menu", "Service", "Due today"])
    expect(card.locator(".pay-lines dd")).to_have_text(["42.00 EUR", "3.50 EUR", "45.50 EUR"])
    pay = card.get_by_role("button", name="Pay", exact=True)
    cancel = card.get_by_role("button", name="Cancel", exact=True)
    expect(pay).to_be_enabled()
    expect(cancel).to_be_enabled()
    expect(li.locator(".badge.ok")).to_have_count(0)

    pay.click()

    expect(li.locator(".badge.ok")).to_have_text("answered")
    expect(pay).to_be_disabled()
    expect(cancel).to_be_disabled()
    expect(page.locator('#bc-thread .bubble[data-reply="payment"]')).to_have_text("Paid 45.50")
    # Approving called the business's payment gateway with a token, then the reply went to the webhook.
    gateway = [r for r in provider_sim_receiver.requests if r.path == "/paymentGateway"]
    assert len(gateway) == 1, [r.path for r in provider_sim_receiver.requests]
    call = gateway[0].json()
    assert call["requestIdentifier"] == _request_id(paid)
    assert call["payment"]["paymentToken"]["paymentMethod"]["network"] == "Visa"
    reply = msp.webhooks(1)[0]["interactiveData"]
    assert reply["data"]["requestIdentifier"] == _request_id(paid)
    assert reply["data"]["payment"]["status"] == "success"
    assert reply["data"]["payment"]["transactionIdentifier"] == call["payment"]["paymentToken"][
        "transactionIdentifier"]

    # A second request, declined from the sheet: no gateway call, a failed payment on the webhook.
    declined = msp.interactive("payment", payment, "Deposit")
    li2 = _card(page, declined)
    li2.get_by_role("group", name="Apple Pay").get_by_role("button", name="Cancel", exact=True).click()
    expect(li2.locator(".badge.ok")).to_have_text("answered")
    expect(page.locator('#bc-thread .bubble[data-reply="payment"]')).to_have_text(["Paid 45.50", "Payment failed"])
    second = msp.webhooks(2)[1]["interactiveData"]["data"]
    assert second["requestIdentifier"] == _request_id(declined)
    assert second["payment"]["status"] == "failed"
    assert "gateway" not in second["payment"]  # the gateway's answer is not part of the MSP's reply
    assert len([r for r in provider_sim_receiver.requests if r.path == "/paymentGateway"]) == 1


def test_sign_in_card_success_and_failure(ui_page: Any, provider_sim: Any, provider_sim_receiver: Any) -> None:
    expect = _expect()
    page = ui_page
    _open(page, provider_sim)
    msp = _MSP(provider_sim, provider_sim_receiver)
    oauth = {"oauth2": {"responseType": "code", "scope": ["openid", "email"], "state": "st-42",
                        "redirectURI": "https://msp.example.com/cb"}}

    ok = msp.interactive("authenticate", oauth, "Sign in to Chez Simu", "To see your bookings")
    li = _card(page, ok)
    card = li.get_by_role("group", name="Sign in")
    expect(card).to_be_visible()
    expect(card.locator(".card-title")).to_have_text("Sign in to Chez Simu")
    expect(card.locator(".card-sub")).to_have_text("To see your bookings")
    sign_in = card.get_by_role("button", name="Sign in", exact=True)
    fail = card.get_by_role("button", name="Fail sign-in", exact=True)
    expect(sign_in).to_be_enabled()
    expect(fail).to_be_enabled()

    sign_in.click()

    expect(li.locator(".badge.ok")).to_have_text("answered")
    expect(sign_in).to_be_disabled()
    expect(fail).to_be_disabled()
    expect(page.locator('#bc-thread .bubble[data-reply="authenticate"]')).to_have_text("Signed in")
    data = msp.webhooks(1)[0]["interactiveData"]["data"]
    assert data["requestIdentifier"] == _request_id(ok)
    assert data["authenticate"]["status"] == "authenticated"
    assert data["authenticate"]["state"] == "st-42"
    assert base64.b64decode(data["authenticate"]["token"]) == b"simulated-oauth-token"

    refused = msp.interactive("authenticate", oauth, "Sign in again")
    li2 = _card(page, refused)
    li2.get_by_role("group", name="Sign in").get_by_role("button", name="Fail sign-in", exact=True).click()
    expect(li2.locator(".badge.ok")).to_have_text("answered")
    expect(page.locator('#bc-thread .bubble[data-reply="authenticate"]')).to_have_text(["Signed in",
                                                                                        "Sign-in failed"])
    data = msp.webhooks(2)[1]["interactiveData"]["data"]
    assert data["requestIdentifier"] == _request_id(refused)
    assert data["authenticate"]["status"] == "failed"
    assert data["authenticate"]["errors"] == [{"code": "access_denied"}]
    assert "token" not in data["authenticate"]


def test_form_card_submit(ui_page: Any, provider_sim: Any, provider_sim_receiver: Any) -> None:
    expect = _expect()
    page = ui_page
    _open(page, provider_sim)
    msp = _MSP(provider_sim, provider_sim_receiver)

    sent = msp.interactive("dynamic", FORM, "Tell us about your visit", "Two questions")
    li = _card(page, sent)
    card = li.get_by_role("group", name="Form")
    expect(card).to_be_visible()
    assert li.get_attribute("data-feature") == "dynamic"
    expect(card.locator(".card-title")).to_have_text("Tell us about your visit")
    expect(card.locator(".card-sub")).to_have_text("Two questions")
    expect(li.locator(".meta span").first).to_have_text("Form")
    submit = card.get_by_role("button", name="Submit form", exact=True)
    expect(submit).to_be_enabled()
    # Each page is drawn as a labelled control: a choice page as radio buttons, an input page as a text field.
    drink = card.get_by_role("group", name="Drink")
    expect(drink.get_by_role("radio")).to_have_count(2)
    coffee = drink.get_by_role("radio", name="Coffee")
    name = card.get_by_role("textbox", name="Name")
    expect(name).to_have_attribute("placeholder", "Your name")

    coffee.check()
    name.fill("Ana Lima")
    submit.click()

    expect(li.locator(".badge.ok")).to_have_text("answered")
    expect(submit).to_be_disabled()
    expect(page.locator('#bc-thread .bubble[data-reply="dynamic"]')).to_have_text("Form submitted")
    data = msp.webhooks(1)[0]["interactiveData"]["data"]
    assert data["requestIdentifier"] == _request_id(sent)
    form = data["dynamic"]
    assert form["template"] == "messageForms" and form["version"] == "1.1"
    # What was entered on the phone is what the business receives.
    assert [s["pageIdentifier"] for s in form["selections"]] == ["p1", "p2"]
    assert [i["identifier"] for i in form["selections"][0]["items"]] == ["coffee"]
    assert form["selections"][1]["input"] == "Ana Lima"
    expect(coffee).to_be_disabled()
    expect(name).to_be_disabled()


def test_rich_link_card(ui_page: Any, provider_sim: Any, provider_sim_receiver: Any) -> None:
    expect = _expect()
    page = ui_page
    _open(page, provider_sim)
    msp = _MSP(provider_sim, provider_sim_receiver)
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(100)).decode()

    sent = msp.send("richLink", richLinkData={"url": "https://shop.example.com/p/42?ref=chat",
                                              "title": "Product 42",
                                              "assets": {"image": {"data": png, "mimeType": "image/png"}}})
    li = _card(page, sent)
    link = li.get_by_role("link", name="Link: Product 42", exact=True)
    expect(link).to_be_visible()
    assert li.get_attribute("data-type") == "richLink"
    assert "from-business" in (li.get_attribute("class") or "")
    expect(link).to_have_attribute("href", "https://shop.example.com/p/42?ref=chat")
    expect(link).to_have_attribute("target", "_blank")
    expect(link.locator(".card-title")).to_have_text("Product 42")
    expect(link.locator(".card-sub")).to_have_text("shop.example.com")
    expect(li.locator(".meta span").first).to_have_text("richLink")
    expect(li.locator("button")).to_have_count(0)  # nothing to answer
    # The preview image the business sent is shown (as a data URL of the same bytes).
    expect(link.locator("img")).to_have_attribute("src", f"data:image/png;base64,{png}")


def test_app_clip_rich_link_card(ui_page: Any, provider_sim: Any, provider_sim_receiver: Any) -> None:
    """An App Clip link made by /v1/constructPayload and sent as richLinkDataRef shows as an App Clip card."""
    import jwt

    expect = _expect()
    page = ui_page
    _open(page, provider_sim)
    msp = _MSP(provider_sim, provider_sim_receiver)
    token = jwt.encode({"iss": msp.msp_id, "iat": int(time.time())}, msp.secret, algorithm="HS256")
    r = provider_sim.http.post("/v1/constructPayload", headers={"Authorization": f"Bearer {token}"},
                               json={"type": "link", "link": {"url": "https://clip.example.com/order"}, "version": 1.0})
    assert r.status_code == 200, r.text
    ref = r.json()["richLinkDataRef"]

    sent = msp.send("richLink", richLinkDataRef=ref)
    li = _card(page, sent)
    link = li.get_by_role("link", name=f"Link: {ref['title']}", exact=True)
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", "https://clip.example.com/order")
    expect(link.locator(".card-sub")).to_have_text("App Clip · clip.example.com")


def test_form_card_multiple_choice_and_untouched_pages(ui_page: Any, provider_sim: Any,
                                                       provider_sim_receiver: Any) -> None:
    """Checkboxes for a multipleSelection page; a page left untouched is answered by the device itself."""
    expect = _expect()
    page = ui_page
    _open(page, provider_sim)
    msp = _MSP(provider_sim, provider_sim_receiver)
    form = {"version": "1.1", "template": "messageForms", "data": {"startPageIdentifier": "p1", "pages": [
        {"pageIdentifier": "p1", "type": "select", "title": "Extras", "multipleSelection": True,
         "items": [{"identifier": "milk", "title": "Milk"}, {"identifier": "sugar", "title": "Sugar"},
                   {"identifier": "ice", "title": "Ice"}]},
        {"pageIdentifier": "p2", "type": "input", "title": "Table", "submitForm": True,
         "options": {"placeholder": "Table number"}}]}}
    sent = msp.interactive("dynamic", form, "Your order")
    card = _card(page, sent).get_by_role("group", name="Form")
    extras = card.get_by_role("group", name="Extras")
    expect(extras.get_by_role("checkbox")).to_have_count(3)
    extras.get_by_role("checkbox", name="Milk").check()
    extras.get_by_role("checkbox", name="Ice").check()
    extras.get_by_role("checkbox", name="Milk").uncheck()
    extras.get_by_role("checkbox", name="Sugar").check()
    card.get_by_role("button", name="Submit form", exact=True).click()

    selections = msp.webhooks(1)[0]["interactiveData"]["data"]["dynamic"]["selections"]
    assert sorted(i["identifier"] for i in selections[0]["items"]) == ["ice", "sugar"]
    assert selections[1]["input"] == "Table number"  # untouched: the device's default
