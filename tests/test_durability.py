"""Restart durability: stop the server, start it on the same db file, everything is still there and moves on."""
from __future__ import annotations

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient


def test_restart_keeps_messages_contacts_and_pending_transitions(db):
    settings = Settings(db=db(), clock="manual", port=0, log_level="warning")
    with SimulatorServer(settings) as server, SimClient(server.url) as sim:
        sent = sim.send_sms("+15551230000", "survive")
        slow = sim.send_sms("+15551230005", "slow one")
        sim.advance(2)
        assert sim.get_message(sent["id"])["status"] == "sent"
        clock_before = sim.clock()["nowMs"]
    with SimulatorServer(settings.replace(port=0)) as server, SimClient(server.url) as sim:
        assert sim.clock()["nowMs"] >= clock_before
        again = sim.get_message(sent["id"])
        assert again["body"]["text"]["text"] == "survive"
        assert again["status"] in ("sent", "delivered")
        contacts = sim.http.get(f"/workspaces/{sim.workspace_id}/contacts", headers=sim.bird_headers).json()
        assert contacts["results"][0]["featuredIdentifiers"][0]["value"] in ("+15551230000", "+15551230005")
        sim.advance(5)
        assert sim.get_message(sent["id"])["status"] == "delivered"
        assert sim.get_message(slow["id"])["status"] == "sent"
        sim.advance(1000)
        assert sim.get_message(slow["id"])["status"] == "delivered"
        # nothing was lost or duplicated
        listing = sim.http.get(sim.messages_path(), headers=sim.bird_headers).json()["results"]
        assert sorted(m["id"] for m in listing) == sorted([sent["id"], slow["id"]])
