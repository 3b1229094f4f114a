"""The web UI without a browser: assets served with the right types, / redirects, events stream, listings."""
from __future__ import annotations

import json
import threading
from typing import Any

import httpx2 as httpx


def test_root_redirects_to_the_ui(provider_sim: Any) -> None:
    response = provider_sim.http.get("/", follow_redirects=False)
    assert response.status_code in (302, 307)
    assert response.headers["location"].endswith("/_sim/ui/")


def test_assets_are_served_with_their_content_types(provider_sim: Any) -> None:
    expected = {"/_sim/ui/": "text/html", "/_sim/ui/index.html": "text/html", "/_sim/ui/app.js": "javascript",
                "/_sim/ui/bc.js": "javascript", "/_sim/ui/style.css": "text/css",
                "/_sim/ui/favicon.svg": "image/svg+xml"}
    for path, ctype in expected.items():
        response = provider_sim.http.get(path)
        assert response.status_code == 200, path
        assert ctype in response.headers["content-type"], (path, response.headers["content-type"])
        assert response.content
    page = provider_sim.http.get("/_sim/ui/").text
    # No CDN: every script and stylesheet the page loads is relative (shipped in the package).
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert provider_sim.http.get("/_sim/ui/missing.js").status_code == 404


def _read_events(url: str, seconds: float, out: list[dict[str, Any]], ready: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=seconds + 5) as client:
        with client.stream("GET", f"/_sim/events?maxSeconds={seconds}") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    out.append({"event": kind, "data": json.loads(line[6:])})
                    if kind == "hello":
                        ready.set()


def test_events_stream_a_bird_status_change_after_a_send(provider_sim: Any) -> None:
    events: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_events, args=(provider_sim.url, 2.0, events, ready), daemon=True)
    reader.start()
    assert ready.wait(5), "no hello event on /_sim/events"
    message = provider_sim.send_sms("+15551230000", "hi")
    provider_sim.advance(10)
    reader.join(10)
    bird = [e["data"] for e in events if e["event"] == "bird.message" and e["data"]["id"] == message["id"]]
    assert [e["status"] for e in bird] == ["accepted", "processing", "sent", "delivered"], events
    assert any(e["event"] == "clock" for e in events)


def test_bird_messages_listing_has_a_timed_status_history(provider_sim: Any) -> None:
    message = provider_sim.send_sms("+15551230001", "will fail")
    start = provider_sim.clock()["nowMs"]
    provider_sim.advance(10)
    listed = provider_sim.http.get("/_sim/bird/messages", params={"limit": 5}).json()["results"]
    assert listed[0]["id"] == message["id"]
    history = listed[0]["statusHistory"]
    assert [s["status"] for s in history] == ["accepted", "processing", "sent", "delivery_failed"]
    assert history[0]["atMs"] == start and history[-1]["atMs"] > history[1]["atMs"] > start
    assert history[-1]["failure"]["code"] == 15005
    one = provider_sim.http.get(f"/_sim/bird/messages/{message['id']}").json()
    assert one["statusHistory"] == history and isinstance(one["webhooks"], list)
    assert provider_sim.http.get("/_sim/bird/messages/nope").status_code == 404
    assert provider_sim.http.get("/_sim/bird/messages", params={"limit": 0}).status_code == 400


def test_outbox_listing_shows_deliveries_with_attempts(provider_sim: Any, provider_sim_server: Any,
                                                      provider_sim_receiver: Any) -> None:
    if not hasattr(provider_sim_server, "call"):
        import pytest

        pytest.skip("needs the in-process simulator to enqueue a delivery directly")
    sim = provider_sim_server.sim
    provider_sim_receiver.set_responses([500, 200])

    async def enqueue() -> None:
        async with sim.store.transaction() as tx:
            await sim.outbox.enqueue(tx, provider="bird", event="sms.outbound", url=provider_sim_receiver.url + "/hook",
                                     headers={"content-type": "application/json"},
                                     body=b'{"event":"sms.outbound","payload":{"id":"ui-outbox-test"}}',
                                     request_id="ui-test")

    provider_sim_server.call(enqueue())
    provider_sim.advance(0)
    provider_sim_receiver.wait_for(1)
    provider_sim.advance(31)
    provider_sim_receiver.wait_for(2)
    data = provider_sim.http.get("/_sim/outbox", params={"limit": 10, "contains": "ui-outbox-test"}).json()
    assert len(data["results"]) == 1
    delivery = data["results"][0]
    assert delivery["status"] == "delivered" and delivery["body"]["payload"]["id"] == "ui-outbox-test"
    assert [a["statusCode"] for a in delivery["attempts"]] == [500, 200]
    assert data["stats"]["delivered"] >= 1


def test_the_live_journal_gets_every_provider_request(provider_sim: Any) -> None:
    """The event stream carries a `journal` event for each provider request (journaled lazily), not only for webhook
    attempts: the web UI's journal page follows what the API is sent as it happens."""
    events: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_events, args=(provider_sim.url, 2.0, events, ready), daemon=True)
    reader.start()
    assert ready.wait(5), "no hello event on /_sim/events"
    provider_sim.send_sms("+15551230000", "hi")
    unknown = provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/chanels", headers=provider_sim.bird_headers)
    assert unknown.status_code == 404
    reader.join(10)
    sent = provider_sim.journal(operation="send_message")
    assert len(sent) == 1
    journal = [e["data"] for e in events if e["event"] == "journal"]
    assert {"seq": sent[0]["seq"], "kind": "request", "provider": "bird"} in journal, events
    assert any(e["provider"] == "bird" and e["kind"] == "request" and e["seq"] > sent[0]["seq"] for e in journal)


def test_the_event_stream_tells_of_resets_and_conversations(provider_sim: Any) -> None:
    events: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_events, args=(provider_sim.url, 2.0, events, ready), daemon=True)
    reader.start()
    assert ready.wait(5), "no hello event on /_sim/events"
    info = provider_sim.info()["businessChat"]
    business, customer = info["businesses"][0]["id"], info["customers"][0]["id"]
    texted = provider_sim.http.post(f"/_sim/business-chat/businesses/{business}/customers/{customer}/text",
                                    json={"text": "hello"})
    assert texted.status_code == 200, texted.text
    assert provider_sim.http.post("/_sim/reset", json={"workspace": provider_sim.workspace_id}).status_code == 200
    reader.join(10)
    assert {"event": "customer.action", "businessId": business, "customerId": customer} in [
        e["data"] for e in events if e["event"] == "businessChat"], events
    assert {"scope": {"workspace": provider_sim.workspace_id}} in [e["data"] for e in events if e["event"] == "reset"]
