"""The read cache (contacts, opt-outs, webhook subscriptions kept across transactions) never serves a stale row:
each test first makes a send cache the state, then changes it, then checks the next send sees the change."""
from __future__ import annotations

from tests.bird.conftest import subs_path, subscribe


def test_subscription_added_changed_and_deleted_after_sends(provider_sim, receiver):
    provider_sim.send_sms("+15551230101")  # caches "no subscriptions" for sms.outbound
    sub = subscribe(provider_sim, receiver.url + "/first")
    second = provider_sim.send_sms("+15551230102")
    got = receiver.wait_for(1)
    assert got[0].path == "/first" and got[0].json()["payload"]["id"] == second["id"]

    moved = provider_sim.http.patch(f"{subs_path(provider_sim)}/{sub['id']}", json={"url": receiver.url + "/moved"},
                                    headers=provider_sim.bird_headers)
    assert moved.status_code == 200, moved.text
    receiver.clear()
    third = provider_sim.send_sms("+15551230103")
    got = receiver.wait_for(1)
    assert got[0].path == "/moved" and got[0].json()["payload"]["id"] == third["id"]

    deleted = provider_sim.http.delete(f"{subs_path(provider_sim)}/{sub['id']}", headers=provider_sim.bird_headers)
    assert deleted.status_code in (200, 204), deleted.text
    receiver.clear()
    provider_sim.send_sms("+15551230104")
    provider_sim.advance(60)  # lifecycle events too: none may be delivered
    assert receiver.requests == []


def test_contact_is_created_again_after_a_workspace_reset(provider_sim):
    first = provider_sim.send_sms("+15551230105")["receiver"]["contacts"][0]["id"]
    assert provider_sim.send_sms("+15551230105")["receiver"]["contacts"][0]["id"] == first  # reused (and cached)
    provider_sim.reset(workspace=provider_sim.workspace_id)
    again = provider_sim.send_sms("+15551230105")["receiver"]["contacts"][0]["id"]
    assert again != first
    contact = provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/contacts/{again}",
                                    headers=provider_sim.bird_headers)
    assert contact.status_code == 200, contact.text
    gone = provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/contacts/{first}",
                                 headers=provider_sim.bird_headers)
    assert gone.status_code == 404


def test_opt_out_cleared_by_a_full_reset(provider_sim):
    number = "+15551230106"
    provider_sim.send_sms(number)
    provider_sim.http.post("/_sim/bird/inbound", json={"channelId": provider_sim.channel_id(), "from": number,
                                                       "text": "STOP"})
    assert provider_sim.send_sms(number)["status"] == "skipped"  # caches "opted out"
    provider_sim.reset()
    assert provider_sim.send_sms(number)["status"] == "accepted"
