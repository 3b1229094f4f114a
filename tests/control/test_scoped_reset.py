"""A scoped reset empties one workspace/channel/business/customer and leaves every other one untouched."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.provider_sim(config="../fixtures/two-tenants.yaml")

WS_B = "5b4b2a1e-0000-4000-8000-00000000a002"
CH_B = "7c0f4a8e-0000-4000-8000-00000000c201"
BIZ_A = "4a1c9f00-0000-4000-8000-00000000b001"
BIZ_B = "4a1c9f00-0000-4000-8000-00000000b002"


def count(sim, workspace):
    return len(sim.http.get(f"/workspaces/{workspace}/messages", params={"limit": 100},
                            headers=sim.bird_headers).json()["results"])


def send_b(sim):
    body = {"receiver": {"contacts": [{"identifierValue": "+15557770000"}]}, "body": {"type": "text", "text": {"text": "b"}}}
    response = sim.http.post(f"/workspaces/{WS_B}/channels/{CH_B}/messages", json=body, headers=sim.bird_headers)
    assert response.status_code == 202, response.text
    return response.json()


def test_the_config_has_two_workspaces(provider_sim):
    assert [w["id"] for w in provider_sim.info()["bird"]["workspaces"]][1] == WS_B


def test_workspace_reset_leaves_the_other_workspace(provider_sim):
    a = provider_sim.send_sms("+15551230000", "a")
    b = send_b(provider_sim)
    provider_sim.reset(workspace=provider_sim.workspace_id)
    assert count(provider_sim, provider_sim.workspace_id) == 0
    assert count(provider_sim, WS_B) == 1
    # B's lifecycle still runs after A's reset; A's message is gone for good.
    provider_sim.advance(10)
    got = provider_sim.http.get(f"/workspaces/{WS_B}/messages/{b['id']}", headers=provider_sim.bird_headers).json()
    assert got["status"] == "delivered"
    assert provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/messages/{a['id']}",
                                 headers=provider_sim.bird_headers).status_code == 404


def test_channel_reset_leaves_other_channels(provider_sim):
    provider_sim.send_sms("+15551230000", "one", channel_id=provider_sim.channel_id(0))
    kept = provider_sim.send_sms("+15551230000", "two", channel_id=provider_sim.channel_id(1))
    send_b(provider_sim)
    provider_sim.reset(channel=provider_sim.channel_id(0))
    ids = [m["id"] for m in provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/messages",
                                                   headers=provider_sim.bird_headers).json()["results"]]
    assert ids == [kept["id"]]
    assert count(provider_sim, WS_B) == 1


def test_scoped_reset_keeps_the_clock_and_the_journal(provider_sim):
    provider_sim.advance(30)
    before = provider_sim.clock()["now"]
    provider_sim.send_sms("+15551230000")
    provider_sim.reset(workspace=WS_B)
    assert provider_sim.clock()["now"] == before
    assert len(provider_sim.journal(operation="send_message")) == 1


def _device(sim, customer):
    return sim.http.get(f"/_sim/business-chat/customers/{customer}/device").json()["messages"]


def test_business_reset_leaves_the_other_business(provider_sim):
    customers = [c["id"] for c in provider_sim.info()["businessChat"]["customers"]]
    for business in (BIZ_A, BIZ_B):
        response = provider_sim.http.post(
            f"/_sim/business-chat/businesses/{business}/customers/{customers[0]}/text", json={"text": business})
        assert response.status_code == 200, response.text
    before = _device(provider_sim, customers[0])
    assert {m["businessId"] for m in before} == {BIZ_A, BIZ_B}
    provider_sim.reset(business=BIZ_A)
    left = _device(provider_sim, customers[0])
    assert {m["businessId"] for m in left} == {BIZ_B}
    assert left == [m for m in before if m["businessId"] == BIZ_B]


def test_customer_reset_leaves_other_customers(provider_sim):
    customers = [c["id"] for c in provider_sim.info()["businessChat"]["customers"]]
    for customer in customers:
        provider_sim.http.post(f"/_sim/business-chat/businesses/{BIZ_A}/customers/{customer}/text", json={"text": "x"})
    kept = _device(provider_sim, customers[1])
    assert kept
    provider_sim.reset(customer=customers[0])
    assert _device(provider_sim, customers[1]) == kept


@pytest.mark.parametrize("body", [{"workspace": ""}, {"workspace": 5}, {"seed": -1}, {"seed": "x"},
                                  {"workspace": WS_B, "seed": 3}])
def test_bad_reset_bodies_are_400(provider_sim, body):
    assert provider_sim.http.post("/_sim/reset", json=body).status_code == 400


def test_a_scoped_reset_removes_the_timeline_of_the_messages_it_removes(tmp_path):
    """The web UI's status timeline (one row per Bird event) goes with its messages and no other's: found through the
    messages, since the timeline keeps no workspace or channel index (migration 0012)."""
    import sqlite3
    from pathlib import Path

    from simulator.settings import Settings
    from simulator.testing import Simulator

    db = tmp_path / "sim.db"
    config = str(Path(__file__).parent.parent / "fixtures" / "two-tenants.yaml")
    with Simulator(Settings(db=str(db), port=0, clock="manual", log_level="warning", config=config)) as sim:
        kept_a = sim.send_sms("+15551230000", "kept", channel_id=sim.channel_id(1))
        gone_a = sim.send_sms("+15551230000", "gone", channel_id=sim.channel_id(0))
        b = send_b(sim)
        sim.advance(10)
        raw = sqlite3.connect(db)

        def events() -> dict[str, int]:
            return dict(raw.execute("SELECT message_id, COUNT(*) FROM bird_status_history GROUP BY message_id"))

        assert events() == {kept_a["id"]: 4, gone_a["id"]: 4, b["id"]: 4}  # accepted, processing, sent, delivered
        sim.reset(channel=sim.channel_id(0))
        assert events() == {kept_a["id"]: 4, b["id"]: 4}
        sim.reset(workspace=WS_B)
        assert events() == {kept_a["id"]: 4}
        timeline = sim.http.get(f"/_sim/bird/messages/{kept_a['id']}").json()["statusHistory"]
        assert [s["status"] for s in timeline] == ["accepted", "processing", "sent", "delivered"]
        raw.close()
