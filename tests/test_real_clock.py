"""Real-time clock (sped up): transitions happen on their own, without anyone advancing the clock."""
from __future__ import annotations

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient


def test_real_clock_sped_up_delivers_by_itself(db):
    settings = Settings(db=db(), clock="real", clock_speed=50, port=0, log_level="warning")
    with SimulatorServer(settings) as server, SimClient(server.url) as sim:
        msg = sim.send_sms("+15551230000")
        # 4.2 simulated seconds at 50x is under 0.1 s of wall time; allow generous slack on a busy machine.
        delivered = sim.wait_for_status(msg["id"], "delivered", timeout=10)
        assert delivered["chargeableUnits"] == 1
        failed = sim.send_sms("+15551230001")
        assert sim.wait_for_status(failed["id"], "delivery_failed", timeout=10)["failure"]["code"] == 15005


def test_wait_for_status_failure_lists_what_was_seen(db):
    settings = Settings(db=db(), clock="manual", port=0, log_level="warning")
    with SimulatorServer(settings) as server, SimClient(server.url) as sim:
        msg = sim.send_sms("+15551230000")
        try:
            sim.wait_for_status(msg["id"], "delivered", timeout=0.2)
        except AssertionError as exc:
            assert "statuses seen: accepted" in str(exc)
        else:
            raise AssertionError("expected a timeout")
