"""Listing messages: filters, keyset pagination (each message exactly once, even while new ones arrive)."""
from __future__ import annotations

from pathlib import Path

import pytest

from simulator.core.clock import iso_ms
from tests.bird.conftest import list_page


def walk(sim, path=None, **params):
    seen, token, pages = [], None, 0
    while True:
        extra = dict(params)
        if token:
            extra["pageToken"] = token
        page = list_page(sim, path, **extra)
        seen += [m["id"] for m in page["results"]]
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            return seen, pages


def test_default_limit_and_newest_first(provider_sim):
    ids = [provider_sim.send_sms("+15551230000", f"m{i}")["id"] for i in range(12)]
    page = list_page(provider_sim)
    assert len(page["results"]) == 10
    assert [m["id"] for m in page["results"]] == ids[::-1][:10]
    assert page["nextPageToken"]


def test_reverse_is_oldest_first(provider_sim):
    ids = [provider_sim.send_sms("+15551230000", f"m{i}")["id"] for i in range(3)]
    assert [m["id"] for m in list_page(provider_sim, reverse="true")["results"]] == ids


def test_pages_cover_every_message_once_while_new_ones_arrive(provider_sim):
    ids = {provider_sim.send_sms("+15551230000", f"m{i}")["id"] for i in range(25)}
    seen, token = [], None
    for round_ in range(20):
        params = {"limit": 4}
        if token:
            params["pageToken"] = token
        page = list_page(provider_sim, **params)
        seen += [m["id"] for m in page["results"]]
        # new traffic between pages, also at the same clock millisecond
        provider_sim.send_sms("+15551239999", f"late{round_}")
        if round_ % 3 == 0:
            provider_sim.advance(0.001)
        token = page.get("nextPageToken")
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert ids <= set(seen)


def test_reverse_pagination_reaches_new_messages_exactly_once(provider_sim):
    for i in range(5):
        provider_sim.send_sms("+15551230000", f"m{i}")
    first = list_page(provider_sim, limit=3, reverse="true")
    late = provider_sim.send_sms("+15551230000", "late")["id"]
    rest, _ = walk(provider_sim, limit=3, reverse="true", pageToken=first["nextPageToken"])
    all_ids = [m["id"] for m in first["results"]] + rest
    assert len(all_ids) == len(set(all_ids)) == 6
    assert all_ids[-1] == late


def test_limit_bounds(provider_sim):
    for bad in ("0", "1001", "ten"):
        r = provider_sim.http.get(provider_sim.messages_path(), params={"limit": bad}, headers=provider_sim.bird_headers)
        assert r.status_code == 422 and "limit" in r.json()["details"]
    assert list_page(provider_sim, limit=100)["results"] == []


def test_bad_page_token(provider_sim):
    for bad in ("!!!", "bm90IGpzb24", "WzEsMl0x"):
        r = provider_sim.http.get(provider_sim.messages_path(), params={"pageToken": bad},
                                  headers=provider_sim.bird_headers)
        assert r.status_code == 422, (bad, r.text)
        assert "pageToken" in r.json()["details"]


def test_status_filter_comma_list(provider_sim):
    ok = provider_sim.send_sms("+15551230000")["id"]
    failed = provider_sim.send_sms("+15551230001")["id"]
    provider_sim.send_sms("+15551230003")  # stays sent
    provider_sim.advance(60)
    assert {m["id"] for m in list_page(provider_sim, status="delivered,delivery_failed")["results"]} == {ok, failed}
    assert [m["status"] for m in list_page(provider_sim, status="sent")["results"]] == ["sent"]
    r = provider_sim.http.get(provider_sim.messages_path(), params={"status": "lost"}, headers=provider_sim.bird_headers)
    assert r.status_code == 422 and "status" in r.json()["details"]


def test_recipient_tag_reference_direction_filters(provider_sim):
    a = provider_sim.send_sms("+15551230000", tags=["Promo"], reference="r1")["id"]
    b = provider_sim.send_sms("+15551230010", tags=["otp"])["id"]
    assert [m["id"] for m in list_page(provider_sim, recipientIdentifier="+15551230010")["results"]] == [b]
    assert [m["id"] for m in list_page(provider_sim, phonenumber="+15551230000")["results"]] == [a]
    assert [m["id"] for m in list_page(provider_sim, tag="promo")["results"]] == [a]
    assert [m["id"] for m in list_page(provider_sim, reference="r1")["results"]] == [a]
    assert len(list_page(provider_sim, direction="outgoing")["results"]) == 2
    assert list_page(provider_sim, direction="incoming")["results"] == []
    assert [m["id"] for m in list_page(provider_sim, senderIdentifier="+15550100001")["results"]] == [b, a]


def test_date_window(provider_sim):
    start = provider_sim.clock()["nowMs"]
    early = provider_sim.send_sms("+15551230000")["id"]
    provider_sim.advance(3600)
    late = provider_sim.send_sms("+15551230000")["id"]
    assert [m["id"] for m in list_page(provider_sim, endAt=iso_ms(start + 1000))["results"]] == [early]
    assert [m["id"] for m in list_page(provider_sim, startAt=iso_ms(start + 1000))["results"]] == [late]
    r = provider_sim.http.get(provider_sim.messages_path(), params={"startAt": "yesterday"},
                              headers=provider_sim.bird_headers)
    assert r.status_code == 422 and "startAt" in r.json()["details"]


def test_workspace_list_spans_channels_and_filters_by_channel(provider_sim):
    us = provider_sim.send_sms("+15551230000")["id"]
    nl_channel = provider_sim.channel_id(mms=False)
    nl = provider_sim.send_sms("+31612345678", channel_id=nl_channel)["id"]
    path = f"/workspaces/{provider_sim.workspace_id}/messages"
    assert {m["id"] for m in list_page(provider_sim, path)["results"]} == {us, nl}
    assert [m["id"] for m in list_page(provider_sim, path, channelId=nl_channel)["results"]] == [nl]
    assert [m["id"] for m in list_page(provider_sim, provider_sim.messages_path(nl_channel))["results"]] == [nl]
    r = provider_sim.http.get(f"{path}/{us}", headers=provider_sim.bird_headers)
    assert r.status_code == 200 and r.json()["id"] == us


def test_get_message_unknown_or_other_channel(provider_sim):
    msg = provider_sim.send_sms("+15551230000")
    r = provider_sim.http.get(f"{provider_sim.messages_path()}/00000000-0000-4000-8000-000000000000",
                              headers=provider_sim.bird_headers)
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
    r = provider_sim.http.get(f"{provider_sim.messages_path(provider_sim.channel_id(mms=False))}/{msg['id']}",
                              headers=provider_sim.bird_headers)
    assert r.status_code == 404


def test_interactions_empty_and_404(provider_sim):
    msg = provider_sim.send_sms("+15551230000")
    r = provider_sim.http.get(f"{provider_sim.messages_path()}/{msg['id']}/interactions", headers=provider_sim.bird_headers)
    assert r.status_code == 200 and r.json()["results"] == []
    r = provider_sim.http.get(f"{provider_sim.messages_path()}/nope/interactions", headers=provider_sim.bird_headers)
    assert r.status_code == 404


def test_date_window_longer_than_seven_days_is_refused(provider_sim):
    start = provider_sim.clock()["nowMs"]
    sent = provider_sim.send_sms("+15551230000")["id"]
    week = 7 * 86_400_000
    assert [m["id"] for m in list_page(provider_sim, startAt=iso_ms(start - 1000),
                                       endAt=iso_ms(start - 1000 + week))["results"]] == [sent]
    r = provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers,
                              params={"startAt": iso_ms(start - 1000), "endAt": iso_ms(start + week)})
    assert r.status_code == 422
    assert r.json()["details"] == {"endAt": ["must be at most 7 days after startAt"]}
    # Only the span is capped: either bound alone may reach back as far as it likes.
    assert [m["id"] for m in list_page(provider_sim, startAt=iso_ms(start - 30 * 86_400_000))["results"]] == [sent]


@pytest.mark.provider_sim(config=str(Path(__file__).parent / "data" / "no-list-window.yaml"))
def test_date_window_cap_can_be_lifted_in_the_world_config(provider_sim):
    start = provider_sim.clock()["nowMs"]
    sent = provider_sim.send_sms("+15551230000")["id"]
    assert [m["id"] for m in list_page(provider_sim, startAt=iso_ms(start - 30 * 86_400_000),
                                       endAt=iso_ms(start + 30 * 86_400_000))["results"]] == [sent]


def test_message_list_filters_as_integrations_send_them(provider_sim):
    accepted = provider_sim.send_sms("+15551230015")
    provider_sim.send_sms("+15551230016")
    headers = provider_sim.bird_headers
    r = provider_sim.http.get(provider_sim.messages_path(), params={"limit": 1000}, headers=headers)
    assert r.status_code == 200 and len(r.json()["results"]) >= 2
    provider_sim.force_status(accepted["id"], "delivered")
    for query in ("status=accepted&status=delivered", "status=delivered&status=accepted",
                  "status=accepted,delivered"):
        r = provider_sim.http.get(f"{provider_sim.messages_path()}?{query}&limit=100", headers=headers)
        statuses = {m["status"] for m in r.json()["results"]}
        assert statuses == {"accepted", "delivered"}, (query, statuses)


@pytest.mark.parametrize("path", ["{messages}", "/workspaces/{ws}/contacts",
                                  "/workspaces/{ws}/webhook-subscriptions", "/workspaces/{ws}/channels"])
@pytest.mark.parametrize("token", ["WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAsMl0", "99999999999999999999999", "-1"])
def test_out_of_range_page_tokens_are_422(provider_sim, path, token):
    url = path.format(messages=provider_sim.messages_path(), ws=provider_sim.workspace_id)
    r = provider_sim.http.get(url, params={"pageToken": token}, headers=provider_sim.bird_headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "InvalidPayload" and "pageToken" in r.json()["details"]
    assert r.json()["message"].startswith("Invalid query parameters")
