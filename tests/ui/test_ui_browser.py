"""The web inbox in a real browser (Debian's Chromium driven by Playwright): live status, inbound, journal,
list pickers. Every test opens the page once and never reloads it: what changes arrives over /_sim/events."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(90)


def _open(page: Any, fragment: str = "#/bird") -> None:
    page.goto("/_sim/ui/" + fragment)
    page.wait_for_selector('#live[data-state="live"]')


def _message(page: Any, message_id: str) -> Any:
    return page.locator(f'#bird-thread li[data-id="{message_id}"]')


def test_send_and_watch_the_status_move_to_delivered(ui_page: Any, provider_sim: Any, provider_sim_receiver: Any,
                                                     screenshot_dir: Path) -> None:
    page = ui_page
    subscribed = provider_sim.http.post(
        f"/workspaces/{provider_sim.workspace_id}/webhook-subscriptions", headers=provider_sim.bird_headers,
        json={"service": "channels", "event": "sms.outbound", "url": provider_sim_receiver.url + "/bird"})
    has_webhooks = subscribed.status_code in (200, 201)
    provider_sim_receiver.set_responses([(503, b"maintenance until 10:00")])  # the first delivery fails, is retried
    _open(page)
    message = provider_sim.send_sms("+15551230000", "Your table for two is ready")
    conversation = page.locator('#bird-channels button[data-phone="+15551230000"]')
    conversation.click()  # appears without a reload
    bubble = _message(page, message["id"])
    assert bubble.get_attribute("data-status") == "accepted"
    before = page.locator("#clock-now").inner_text()

    page.get_by_role("button", name="+10 s").click()  # the clock widget calls POST /_sim/clock/advance

    page.wait_for_selector(f'#bird-thread li[data-id="{message["id"]}"][data-status="delivered"]')
    assert bubble.locator('[data-testid="status"]').inner_text() == "delivered"
    assert page.locator("#clock-now").inner_text() != before
    bubble.locator("summary").first.click()
    steps = bubble.locator(".timeline li")
    assert [s.get_attribute("data-status") for s in steps.all()] == ["accepted", "processing", "sent", "delivered"]
    # each transition carries its own simulated clock time
    times = [t.get_attribute("datetime") for t in bubble.locator(".timeline time").all()]
    assert len(set(times)) == 4 and times == sorted(times)
    if has_webhooks:  # each status change was a signed webhook; the first attempt got 503, its retry 200
        provider_sim.advance(60)
        page.wait_for_function(
            f"document.querySelectorAll('#bird-thread li[data-id=\"{message['id']}\"] .deliveries > li').length >= 4")
        codes = bubble.locator(".attempts li").all_inner_texts()
        assert any(c.startswith("#1 503") for c in codes) and any(" 200 " in c for c in codes), codes
        # what the receiver said, for debugging (the delivery whose first attempt got the 503)
        answers = bubble.locator(".deliveries details.answers").filter(has_text="maintenance")
        answers.locator("summary").click()
        assert "#1 503\nmaintenance until 10:00" in answers.locator("pre").inner_text()
        # The bubble is rebuilt whenever one of its events arrives: what the reader opened inside it stays open.
        selector = f'#bird-thread li[data-id="{message["id"]}"]'
        replaced, opened_before, opened_after = page.evaluate("""(selector) => {
            const opened = (li) => [...li.querySelectorAll("details[open]")].map((d) => d.dataset.keep || d.className);
            const old = document.querySelector(selector);
            const before = opened(old);
            old.dataset.signature = "stale";  // as if an event had changed it
            renderBirdThread();
            const fresh = document.querySelector(selector);
            return [fresh !== old, before, opened(fresh)];
        }""", selector)
        assert replaced and any("answers" in key for key in opened_before), opened_before
        assert opened_after == opened_before
    # Found and scrolled in one step in the page: the thread re-renders as delivery events arrive, and a locator's
    # scroll_into_view_if_needed waits for the element to be stable, long enough to see it replaced ("not attached").
    page.eval_on_selector(f'#bird-thread li[data-id="{message["id"]}"]', "e => e.scrollIntoView({block: 'nearest'})")
    page.screenshot(path=str(screenshot_dir / "bird-inbox.png"))

    # A second message, failed by the number's magic suffix, then a forced outcome from the UI.
    failing = provider_sim.send_sms("+15551230001", "this one fails")
    page.locator('#bird-channels button[data-phone="+15551230001"]').click()
    page.get_by_role("button", name="+10 s").click()
    failed = _message(page, failing["id"])
    page.wait_for_selector(f'#bird-thread li[data-id="{failing["id"]}"][data-status="delivery_failed"]')
    failed.locator("summary").first.click()
    assert "15005" in failed.locator(".failure").inner_text()
    forced = provider_sim.send_sms("+15551230001", "force me")
    page.wait_for_selector(f'#bird-thread li[data-id="{forced["id"]}"]')
    _message(page, forced["id"]).locator("summary").first.click()
    _message(page, forced["id"]).get_by_role("button", name="rejected").click()
    page.wait_for_selector(f'#bird-thread li[data-id="{forced["id"]}"][data-status="rejected"]')


def test_inbound_sms_appears_live(ui_page: Any, provider_sim: Any) -> None:
    page = ui_page
    _open(page)
    channel = provider_sim.channel_id()
    response = provider_sim.http.post("/_sim/bird/inbound", json={
        "channelId": channel, "from": "+15557654321", "text": "Is the shop open today?"})
    if response.status_code == 404:
        pytest.skip("POST /_sim/bird/inbound does not exist in this build (issue 3)")
    assert response.status_code < 300, response.text
    conversation = page.locator('#bird-channels button[data-phone="+15557654321"]')
    conversation.click()
    page.wait_for_selector("#bird-thread li.incoming")
    assert "Is the shop open today?" in page.locator("#bird-thread li.incoming .bubble").first.inner_text()

    # And the customer writes again from the page's own composer.
    page.get_by_label("Text", exact=True).first.fill("Also, do you deliver?")
    page.get_by_role("button", name="Send as customer").click()
    page.wait_for_function("document.querySelectorAll('#bird-thread li.incoming').length >= 2")

    # A picture message (MMS) shows its media, fetched from the simulator with the access key.
    mms_channel = provider_sim.channel_id(mms=True)
    response = provider_sim.http.post("/_sim/bird/inbound", json={
        "channelId": mms_channel, "from": "+15557654321", "text": "Here is the damage",
        "media": [{"contentType": "image/png", "filename": "damage.png", "base64": _b64(_png((200, 40, 40)))}]})
    assert response.status_code < 300, response.text
    page.locator(f'#bird-channels button[data-phone="+15557654321"][data-channel="{mms_channel}"]').click()
    page.wait_for_selector('#bird-thread li.incoming .media img[src^="blob:"]')


def test_journal_filters(ui_page: Any, provider_sim: Any, screenshot_dir: Path) -> None:
    if provider_sim.http.get("/_sim/journal").status_code == 404:
        pytest.skip("GET /_sim/journal does not exist in this build (issue 5)")
    page = ui_page
    provider_sim.send_sms("+15551230000", "journal me")
    bad = provider_sim.http.post(provider_sim.messages_path(), json={"nope": 1}, headers=provider_sim.bird_headers)
    assert bad.status_code == 422 or bad.status_code == 400
    provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers)
    _open(page, "#/journal")
    page.wait_for_selector("#journal-body tr")
    total = page.locator("#journal-body tr").count()
    assert total >= 3
    page.get_by_label("Method").select_option("POST")
    page.wait_for_function(
        "[...document.querySelectorAll('#journal-body td.path')].every(td => td.textContent.startsWith('POST'))")
    page.get_by_label("Response status").fill("4xx")
    page.wait_for_function("document.querySelectorAll('#journal-body tr').length === 1")
    row = page.locator("#journal-body tr").first
    assert row.locator("td.status").inner_text().startswith("4")
    page.get_by_label("Response status").fill("")
    page.get_by_label("Method").select_option("")
    page.wait_for_function(f"document.querySelectorAll('#journal-body tr').length >= {total}")
    provider_sim.send_sms("+15551230000", "one more")  # arrives over /_sim/events, no reload
    page.wait_for_function(f"document.querySelectorAll('#journal-body tr').length > {total}")
    page.screenshot(path=str(screenshot_dir / "journal.png"))


def test_answer_a_list_picker_by_clicking(ui_page: Any, provider_sim: Any, provider_sim_receiver: Any,
                                         screenshot_dir: Path) -> None:
    if provider_sim.http.get("/_sim/business-chat").status_code == 404:
        pytest.skip("Business Chat is not in this build (issue 4)")
    page = ui_page
    _open(page, "#/business-chat")
    msp = _MSP(provider_sim, provider_sim_receiver.url)
    request_id = msp.send_list_picker()
    item = page.locator('#bc-thread button[data-item="latte"]')
    item.wait_for()  # the picker arrives on the phone without a reload
    assert page.locator('#bc-thread button[data-item="latte"] img').count() == 1
    page.screenshot(path=str(screenshot_dir / "business-chat.png"))

    item.click()

    page.wait_for_selector('#bc-thread li[data-feature="listPicker"] .badge.ok')  # marked answered
    page.wait_for_selector('#bc-thread .bubble[data-reply="listPicker"]')  # the customer's reply in the thread
    provider_sim.advance(1)
    reply = msp.reply(provider_sim_receiver.wait_for(1)[0])
    data = reply["interactiveData"]["data"]
    assert data["requestIdentifier"] == request_id
    assert [i["identifier"] for s in data["listPicker"]["sections"] for i in s["items"]] == ["latte"]


def test_time_picker_and_quick_reply_are_tappable(ui_page: Any, provider_sim: Any, provider_sim_receiver: Any) -> None:
    if provider_sim.http.get("/_sim/business-chat").status_code == 404:
        pytest.skip("Business Chat is not in this build (issue 4)")
    page = ui_page
    _open(page, "#/business-chat")
    msp = _MSP(provider_sim, provider_sim_receiver.url)
    msp.send_interactive("event", {"identifier": "visit", "title": "Book a tasting", "timezoneOffset": 60,
                                   "timeslots": [{"identifier": "s1", "startTime": "2026-12-01T09:00+0000",
                                                  "duration": 1800},
                                                 {"identifier": "s2", "startTime": "2026-12-01T10:00+0000",
                                                  "duration": 1800}]}, "Pick a time")
    slot = page.locator('#bc-thread button[data-slot="s2"]')
    slot.wait_for()
    slot.click()
    page.wait_for_selector('#bc-thread li[data-feature="event"] .badge.ok')
    msp.send_interactive("quick-reply", {"summaryText": "Still there?", "items": [
        {"identifier": "yes", "title": "Yes"}, {"identifier": "no", "title": "No"}]}, "Still there?")
    page.get_by_role("button", name="Yes", exact=True).click()
    page.wait_for_selector('#bc-thread li[data-feature="quick-reply"] .badge.ok')
    provider_sim.advance(1)
    replies = [msp.reply(r) for r in provider_sim_receiver.wait_for(2)]
    features = [next(k for k in ("event", "quick-reply") if k in r["interactiveData"]["data"]) for r in replies]
    assert features == ["event", "quick-reply"]
    assert replies[0]["interactiveData"]["data"]["event"]["timeslots"][0]["identifier"] == "s2"


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _png(rgb: tuple[int, int, int], size: int = 48) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class _MSP:
    """Just enough of a messaging service provider: JWT-signed /v1/message calls, a webhook that gunzips."""

    BID = ("com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:"
           "com.apple.icloud.apps.messages.business.extension")

    def __init__(self, sim: Any, webhook_url: str) -> None:
        import base64

        info = sim.http.get("/_sim/business-chat").json()
        self.sim = sim
        self.msp_id = info["mspId"]
        self.secret = base64.b64decode(info["secret"])
        self.business = info["businesses"][0]
        self.customer = sim.http.get("/_sim/business-chat/customers").json()["customers"][0]["id"]
        r = sim.http.post(f"/_sim/business-chat/businesses/{self.business}", json={"webhookUrl": webhook_url})
        assert r.status_code == 200, r.text

    def send_list_picker(self) -> str:
        import base64
        import uuid

        def image(name: str, rgb: tuple[int, int, int]) -> dict[str, str]:
            return {"identifier": name, "data": base64.b64encode(_png(rgb)).decode()}

        request_id = str(uuid.uuid4())
        items = [("latte", "Caffè latte", "Espresso, steamed milk", (176, 124, 80)),
                 ("flat-white", "Flat white", "Double ristretto", (214, 180, 140)),
                 ("mocha", "Mocha", "With dark chocolate", (92, 58, 40))]
        picker = {"sections": [{"title": "Coffee", "order": 0, "multipleSelection": False, "items": [
            {"identifier": ident, "title": title, "subtitle": sub, "imageIdentifier": f"img-{ident}", "order": n,
             "style": "default"} for n, (ident, title, sub, _) in enumerate(items)]}]}
        body = {"v": 1, "id": str(uuid.uuid4()), "type": "interactive", "sourceId": self.business,
                "destinationId": self.customer, "interactiveData": {
                    "bid": self.BID, "receivedMessage": {"title": "What would you like?", "subtitle": "Tap to order",
                                                         "imageIdentifier": "img-latte", "style": "icon"},
                    "replyMessage": {"title": "Your pick"},
                    "data": {"version": "1.0", "requestIdentifier": request_id, "listPicker": picker,
                             "images": [image(f"img-{i[0]}", i[3]) for i in items]}}}
        self.post(body)
        return request_id

    def send_interactive(self, feature: str, value: Any, title: str) -> str:
        import uuid

        request_id = str(uuid.uuid4())
        self.post({"v": 1, "id": str(uuid.uuid4()), "type": "interactive", "sourceId": self.business,
                   "destinationId": self.customer, "interactiveData": {
                       "bid": self.BID, "receivedMessage": {"title": title}, "replyMessage": {"title": "Thanks"},
                       "data": {"version": "1.0", "requestIdentifier": request_id, feature: value}}})
        return request_id

    def post(self, body: dict[str, Any]) -> None:
        import json
        import time

        import jwt

        token = jwt.encode({"iss": self.msp_id, "iat": int(time.time())}, self.secret, algorithm="HS256")
        r = self.sim.http.post("/v1/message", content=json.dumps(body).encode(), headers={
            "Authorization": f"Bearer {token}", "id": body["id"], "source-id": self.business,
            "destination-id": self.customer, "content-type": "application/json"})
        assert r.status_code == 200, r.text

    def reply(self, request: Any) -> dict[str, Any]:
        import gzip
        import json

        import jwt

        token = request.header("authorization").split(" ", 1)[1]
        jwt.decode(token, self.secret, algorithms=["HS256"], audience=self.msp_id)
        body = json.loads(gzip.decompress(request.body))
        assert body["type"] == "interactive", body
        return body  # type: ignore[no-any-return]


def test_usable_at_phone_width(chromium_browser: Any, provider_sim: Any, screenshot_dir: Path) -> None:
    provider_sim.send_sms("+15551230000", "Your order #1042 has shipped")
    provider_sim.advance(10)
    context = chromium_browser.new_context(viewport={"width": 390, "height": 844}, base_url=provider_sim.url,
                                           is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        for fragment in ("#/bird", "#/business-chat", "#/webhooks", "#/journal"):
            _open(page, fragment)
            page.wait_for_timeout(200)
            overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{fragment} scrolls sideways by {overflow}px at phone width"
        _open(page, "#/bird")
        page.locator('#bird-channels button[data-phone="+15551230000"]').click()
        page.wait_for_selector('#bird-thread li[data-status="delivered"]')
        # every control has an accessible name
        unnamed = page.evaluate("""[...document.querySelectorAll('button, input, select')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim()
                          && !el.title).map(el => el.outerHTML)""")
        assert not unnamed, unnamed
        page.screenshot(path=str(screenshot_dir / "phone-bird.png"))
    finally:
        context.close()


def test_coverage_page(ui_page: Any, provider_sim: Any, screenshot_dir: Path) -> None:
    page = ui_page
    provider_sim.reset_coverage()
    provider_sim.send_sms("+15551230000", "counted")
    provider_sim.advance(10)
    _open(page, "#/coverage")
    delivered = page.locator('#coverage-body tr[data-behaviour="delivered"]').first
    delivered.wait_for()
    assert delivered.get_attribute("data-met") == "true"
    assert delivered.locator("td.status").inner_text() == "1"
    assert "of" in page.locator("#coverage-summary").inner_text()
    page.get_by_label("Show").select_option("unmet")
    failed = page.locator('#coverage-body tr[data-behaviour="delivery_failed"]')
    failed.wait_for()
    assert "0001" in failed.inner_text() and "magic number" in failed.inner_text()
    page.wait_for_function("!document.querySelector('#coverage-body tr[data-behaviour=\"delivered\"]')")
    page.screenshot(path=str(screenshot_dir / "coverage.png"))
    page.get_by_label("Show").select_option("")
    page.get_by_role("button", name="Reset counts").click()
    page.wait_for_function(
        "document.querySelector('#coverage-body tr[data-behaviour=\"delivered\"]')?.dataset.met === 'false'")
    assert provider_sim.coverage_counts("bird")["delivered"] == 0
