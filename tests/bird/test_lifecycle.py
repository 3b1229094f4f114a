"""Bird lifecycle on the manual clock: magic receiver numbers pick the outcome, timing profiles the pace."""
from __future__ import annotations

import pytest

from simulator.core.clock import iso_ms


def statuses_over_time(sim, message_id, steps=(0.1, 0.3, 1, 3, 10, 600, 1200)):
    seen = []
    for seconds in steps:
        sim.advance(seconds)
        status = sim.get_message(message_id)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
    return seen


def test_default_number_walks_accepted_processing_sent_delivered(provider_sim):
    msg = provider_sim.send_sms("+15551230000", "hello")
    assert msg["status"] == "accepted"
    provider_sim.advance(0.2)
    assert provider_sim.get_message(msg["id"])["status"] == "processing"
    provider_sim.advance(1.0)
    sent = provider_sim.get_message(msg["id"])
    assert sent["status"] == "sent"
    assert sent["chargeableUnits"] == 1 and len(sent["parts"]) == 1
    assert len(sent["parts"][0]["platformReference"]) == 32
    provider_sim.advance(3.0)
    delivered = provider_sim.get_message(msg["id"])
    assert delivered["status"] == "delivered"
    assert delivered["lastStatusAt"] > msg["lastStatusAt"]
    assert delivered["createdAt"] == msg["createdAt"]
    assert delivered["failure"] is None


def test_clock_advance_is_exact(provider_sim):
    before = provider_sim.clock()["nowMs"]
    provider_sim.advance(3600)
    assert provider_sim.clock()["nowMs"] == before + 3_600_000


def test_transition_timestamps_are_due_times(provider_sim):
    msg = provider_sim.send_sms("+15551230000")
    start = provider_sim.clock()["nowMs"]
    provider_sim.advance(100)
    done = provider_sim.get_message(msg["id"])
    # default profile: processing 0.2 s + sent 1.0 s + delivered 3.0 s
    assert done["lastStatusAt"] == iso_ms(start + 4200)


def test_unknown_subscriber(provider_sim):
    msg = provider_sim.send_sms("+15551230001")
    assert statuses_over_time(provider_sim, msg["id"]) == ["accepted", "processing", "sent", "delivery_failed"]
    failed = provider_sim.get_message(msg["id"])
    assert failed["failure"]["code"] == 15005
    assert failed["failure"]["source"]["name"] == "sms-messagebird"
    assert failed["details"] == "unknown_subscriber"
    assert "unknown subscriber" in failed["reason"]


def test_sending_failed(provider_sim):
    msg = provider_sim.send_sms("+15551230002")
    assert statuses_over_time(provider_sim, msg["id"]) == ["accepted", "processing", "sending_failed"]
    assert provider_sim.get_message(msg["id"])["failure"]["code"] == 12001


def test_no_dlr_stays_sent(provider_sim):
    msg = provider_sim.send_sms("+15551230003")
    provider_sim.advance(3 * 86400)
    assert provider_sim.get_message(msg["id"])["status"] == "sent"


def test_rejected(provider_sim):
    msg = provider_sim.send_sms("+15551230004")
    assert statuses_over_time(provider_sim, msg["id"]) == ["accepted", "rejected"]
    assert provider_sim.get_message(msg["id"])["failure"]["code"] == 12003


def test_slow_dlr(provider_sim):
    msg = provider_sim.send_sms("+15551230005")
    provider_sim.advance(60)
    assert provider_sim.get_message(msg["id"])["status"] == "sent"
    provider_sim.advance(900)
    assert provider_sim.get_message(msg["id"])["status"] == "delivered"


def test_skipped(provider_sim):
    msg = provider_sim.send_sms("+15551230006")
    provider_sim.advance(1)
    skipped = provider_sim.get_message(msg["id"])
    assert skipped["status"] == "skipped" and skipped["failure"]["code"] == 14001


def test_expired_after_validity(provider_sim):
    msg = provider_sim.send_sms("+15551230007", validity=120)
    provider_sim.advance(60)
    assert provider_sim.get_message(msg["id"])["status"] == "sent"
    provider_sim.advance(61)
    expired = provider_sim.get_message(msg["id"])
    assert expired["status"] == "delivery_failed" and expired["details"] == "expired"


def test_slow_dlr_beyond_2fa_validity_expires(provider_sim):
    otp_channel = provider_sim.info()["bird"]["workspaces"][0]["channels"][2]["id"]
    msg = provider_sim.send_sms("+15551230005", "code 1234", channel_id=otp_channel)
    provider_sim.advance(599)
    assert provider_sim.get_message(msg["id"], otp_channel)["status"] == "sent"
    provider_sim.advance(2)
    assert provider_sim.get_message(msg["id"], otp_channel)["details"] == "expired"


def test_scheduled_message_waits(provider_sim):
    now = provider_sim.clock()["nowMs"]
    msg = provider_sim.send_sms("+15551230000", scheduledFor=iso_ms(now + 3600_000))
    assert msg["status"] == "scheduled"
    assert msg["scheduledFor"] == iso_ms(now + 3600_000)
    provider_sim.advance(3599)
    assert provider_sim.get_message(msg["id"])["status"] == "scheduled"
    provider_sim.advance(10)
    assert provider_sim.get_message(msg["id"])["status"] == "delivered"


def test_scheduled_within_ten_minutes_sends_now(provider_sim):
    now = provider_sim.clock()["nowMs"]
    msg = provider_sim.send_sms("+15551230000", scheduledFor=iso_ms(now + 5 * 60_000))
    assert msg["status"] == "accepted"


@pytest.mark.parametrize("text,units", [("a" * 160, 1), ("a" * 161, 2), ("€" * 80, 1), ("€" * 81, 2),
                                        ("é" * 160, 1), ("ł" * 70, 1), ("ł" * 71, 2), ("😀" * 35, 1), ("😀" * 36, 2)])
def test_chargeable_units(provider_sim, text, units):
    msg = provider_sim.send_sms("+15551230000", text)
    provider_sim.advance(5)
    sent = provider_sim.get_message(msg["id"])
    assert sent["chargeableUnits"] == units
    assert len(sent["parts"]) == units


def test_force_status_from_control_plane(provider_sim):
    msg = provider_sim.send_sms("+15551230000")
    r = provider_sim.http.post(f"/_sim/bird/messages/{msg['id']}/status", json={"status": "delivery_failed"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivery_failed" and r.json()["failure"]["code"] == 15005
    provider_sim.advance(100)
    assert provider_sim.get_message(msg["id"])["status"] == "delivery_failed"
    r = provider_sim.http.post("/_sim/bird/messages/nope/status", json={"status": "delivered"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
    r = provider_sim.http.post(f"/_sim/bird/messages/{msg['id']}/status", json={"status": "exploded"})
    assert r.status_code == 400


def test_advance_validates_input(provider_sim):
    for bad in ({}, {"seconds": "ten"}, {"seconds": -1}, {"seconds": True}):
        r = provider_sim.http.post("/_sim/clock/advance", json=bad)
        assert r.status_code == 400, bad
        assert "seconds" in r.json()["error"]["message"]
    r = provider_sim.http.post("/_sim/clock/advance", content=b"{nope")
    assert r.status_code == 400


def test_reset_restores_seeded_world(provider_sim):
    provider_sim.send_sms("+15551230000")
    before = provider_sim.clock()["nowMs"]
    provider_sim.advance(100)
    provider_sim.reset()
    assert provider_sim.http.get(provider_sim.messages_path(), headers=provider_sim.bird_headers).json()[
        "results"] == []
    assert provider_sim.clock()["nowMs"] == before
    assert provider_sim.clock()["pendingJobs"] == 0


def test_same_seed_same_ids(provider_sim):
    first = provider_sim.send_sms("+15551230000")["id"]
    provider_sim.reset()
    assert provider_sim.send_sms("+15551230000")["id"] == first
