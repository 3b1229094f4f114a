"""A db that cannot take writes (disk full, here SQLite's max_page_count): every request gets a 503 in the provider's
shape (the connection stays up), nothing half-written is kept, no due transition or webhook is dropped, and
everything moves on once there is room again."""
from __future__ import annotations

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient, WebhookReceiver
from tests.bird.conftest import subscribe

def _cap_pages(server: SimulatorServer, extra: int) -> None:
    async def cap() -> None:
        conn = server.sim.store.conn
        pages = (await (await conn.execute("PRAGMA page_count")).fetchone())[0]
        await conn.execute(f"PRAGMA max_page_count={pages + extra}")

    server.call(cap())


def test_a_full_db_answers_503_keeps_nothing_half_written_and_loses_no_transition(tmp_path):
    settings = Settings(db=str(tmp_path / "sim.db"), clock="manual", port=0)
    with WebhookReceiver() as hook, SimulatorServer(settings) as server, SimClient(server.url) as sim:
        subscribe(sim, hook.url + "/bird")
        _cap_pages(server, 6)
        accepted: list[str] = []
        refused = 0
        for i in range(150):  # one keep-alive connection throughout: a 503 must not drop it
            r = sim.http.post(sim.messages_path(), headers=sim.bird_headers, json={
                "receiver": {"contacts": [{"identifierValue": f"+1555987{i:03d}9"}]},  # no magic suffix
                "body": {"type": "text", "text": {"text": f"message {i} " + "x" * 400}}})
            if r.status_code == 202:
                accepted.append(r.json()["id"])
                continue
            assert r.status_code == 503, r.text
            assert set(r.json()) == {"code", "message"} and r.json()["code"] == "ServiceUnavailable"
            assert "database or disk is full" in r.json()["message"] and r.headers["retry-after"] == "1"
            refused += 1
        assert accepted and refused > 100, (len(accepted), refused)

        # Reads still work, and show exactly what was acknowledged: no row of a refused send is left behind.
        listed = sim.http.get(sim.messages_path() + "?limit=1000", headers=sim.bird_headers).json()["results"]
        assert sorted(m["id"] for m in listed) == sorted(accepted)

        # Transitions cannot be written either: the advance says so and keeps its jobs.
        r = sim.http.post("/_sim/clock/advance", json={"seconds": 3600})
        assert r.status_code == 503 and r.json()["error"]["code"] == "ServiceUnavailable", r.text
        jobs_left = server.call(server.sim.scheduler.pending())
        assert jobs_left >= len(accepted)

        _cap_pages(server, 1_000_000)  # room again
        sim.advance(3600)
        statuses = {m: sim.get_message(m)["status"] for m in accepted}
        assert set(statuses.values()) == {"delivered"}, statuses  # as every such number is, disk full or not
        assert server.call(server.sim.scheduler.pending()) == 0
        # Every message's webhooks arrive, its final status included.
        for message_id, status in statuses.items():
            for reached in ("accepted", "processing", "sent", status):
                hook.wait_for_webhook("sms.outbound", {"payload.id": message_id, "payload.status": reached})
        assert sim.send_sms("+15559870999", "after")["status"] == "accepted"
