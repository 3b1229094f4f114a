"""Installing an SMS connector (POST /workspaces/{ws}/connectors) creates a channel that sends, lists, survives a
restart and goes away with a reset."""
from __future__ import annotations

from typing import Any

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient

NUMBER_ID = "3f0c1a52-7d44-4c2e-9d0b-2a8f6b1c9e01"


def install(sim: Any, **overrides: Any) -> Any:
    body = {"name": "Alerts NL", "connectorTemplateRef": "sms-messagebird:1",
            "arguments": {"phoneNumberId": NUMBER_ID, "channelMessageType": "transactional",
                          "phoneNumber": "+3197010250001"}}
    body.update(overrides)
    return sim.http.post(f"/workspaces/{sim.workspace_id}/connectors", json=body, headers=sim.bird_headers)


def test_install_creates_a_channel_that_sends(provider_sim):
    ws = provider_sim.workspace_id
    r = install(provider_sim)
    assert r.status_code == 201, r.text
    connector = r.json()
    assert connector["workspaceId"] == ws and connector["name"] == "Alerts NL"
    assert connector["number"]["phoneNumber"] == "+3197010250001" and connector["number"]["numberId"] == NUMBER_ID
    assert connector["number"]["capabilities"] == "sms-inbound,sms-outbound"  # an NL number: no MMS
    assert connector["channel"]["platform"] == "sms-messagebird"
    channel_id = connector["channel"]["channelId"]
    assert connector["arguments"]["channelMessageType"] == "transactional"

    # the documented next step: read the connector back to learn the channel id
    again = provider_sim.http.get(f"/workspaces/{ws}/connectors/{connector['id']}", headers=provider_sim.bird_headers)
    assert again.status_code == 200 and again.json() == connector
    listed = provider_sim.http.get(f"/workspaces/{ws}/connectors", headers=provider_sim.bird_headers).json()
    assert connector in listed["results"]
    channel = provider_sim.http.get(f"/workspaces/{ws}/channels/{channel_id}", headers=provider_sim.bird_headers)
    assert channel.status_code == 200
    assert channel.json()["identifier"] == "+3197010250001" and channel.json()["connectorId"] == connector["id"]

    sent = provider_sim.send_sms("+31612345678", "from the new channel", channel_id=channel_id)
    assert sent["channelId"] == channel_id
    assert sent["sender"]["connector"] == {"id": connector["id"], "identifierValue": "+3197010250001",
                                           "annotations": {"name": "Alerts NL"}}
    provider_sim.advance(10)
    assert provider_sim.get_message(sent["id"], channel_id=channel_id)["status"] == "delivered"


def test_number_derived_from_the_phone_number_id_when_not_given(provider_sim):
    r = install(provider_sim, arguments={"phoneNumberId": "n-1", "channelMessageType": "2fa"})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert number["phoneNumber"].startswith("+1555") and len(number["phoneNumber"]) == 12
    assert "mms-outbound" in number["capabilities"]  # a US number
    channel = provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/channels/"
                                    f"{r.json()['channel']['channelId']}", headers=provider_sim.bird_headers).json()
    assert channel["messageType"] == "2fa"


def test_invalid_requests_say_what_is_wrong(provider_sim):
    args = {"phoneNumberId": NUMBER_ID, "channelMessageType": "transactional"}
    cases = [
        ({"arguments": args}, ".name"),  # name is the one required field
        ({"name": "x", "arguments": {"channelMessageType": "transactional"}}, ".arguments.phoneNumberId"),
        ({"name": "x", "arguments": {"phoneNumberId": NUMBER_ID}}, ".arguments.channelMessageType"),
        ({"name": "x", "arguments": {**args, "channelMessageType": "spam"}}, ".arguments.channelMessageType"),
        ({"name": "x", "arguments": {**args, "phoneNumber": "0612"}}, ".arguments.phoneNumber"),
        ({"name": "x", "arguments": args, "connectorTemplateRef": "whatsapp:1"}, ".connectorTemplateRef"),
        ({"name": "x", "arguments": args, "colour": "blue"}, "."),
    ]
    for body, where in cases:
        r = provider_sim.http.post(f"/workspaces/{provider_sim.workspace_id}/connectors", json=body,
                                   headers=provider_sim.bird_headers)
        assert r.status_code == 422, (body, r.text)
        problem = r.json()
        assert problem["code"] == "InvalidPayload" and any(k.startswith(where) for k in problem["details"]), (
            body, problem)
    channels = provider_sim.http.get(f"/workspaces/{provider_sim.workspace_id}/channels",
                                     headers=provider_sim.bird_headers).json()["results"]
    assert len(channels) == 3  # nothing was installed by a rejected request


def test_conflicts_and_unknowns(provider_sim):
    ws = provider_sim.workspace_id
    assert install(provider_sim).status_code == 201
    again = install(provider_sim, arguments={"phoneNumberId": NUMBER_ID, "channelMessageType": "promotional"})
    assert again.status_code == 409 and "connector already exists" in again.json()["message"]
    seeded = install(provider_sim, arguments={"phoneNumberId": "other", "channelMessageType": "2fa",
                                              "phoneNumber": "+15550100001"})  # the seeded US channel's number
    assert seeded.status_code == 409
    missing = provider_sim.http.get(f"/workspaces/{ws}/connectors/00000000-0000-4000-8000-000000000000",
                                    headers=provider_sim.bird_headers)
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound"
    elsewhere = provider_sim.http.post("/workspaces/00000000-0000-4000-8000-000000000000/connectors",
                                       json={"name": "x"}, headers=provider_sim.bird_headers)
    assert elsewhere.status_code == 404


def test_reset_removes_installed_channels_but_a_channel_reset_keeps_them(provider_sim):
    ws = provider_sim.workspace_id
    channel_id = install(provider_sim).json()["channel"]["channelId"]
    provider_sim.send_sms("+31612345678", channel_id=channel_id)
    provider_sim.reset(channel=channel_id)
    path = f"/workspaces/{ws}/channels/{channel_id}"
    assert provider_sim.http.get(path, headers=provider_sim.bird_headers).status_code == 200
    provider_sim.reset(workspace=ws)
    assert provider_sim.http.get(path, headers=provider_sim.bird_headers).status_code == 404
    channel_id = install(provider_sim).json()["channel"]["channelId"]  # the same phoneNumberId installs again
    provider_sim.reset()
    assert provider_sim.http.get(f"/workspaces/{ws}/channels/{channel_id}",
                                 headers=provider_sim.bird_headers).status_code == 404


def test_installed_channel_survives_a_restart(db):
    settings = Settings(db=db(), clock="manual", port=0, log_level="warning")
    with SimulatorServer(settings) as server, SimClient(server.url) as sim:
        connector = install(sim).json()
        channel_id = connector["channel"]["channelId"]
        sent = sim.send_sms("+31612345678", "before the restart", channel_id=channel_id)
    with SimulatorServer(settings.replace(port=0)) as server, SimClient(server.url) as sim:
        got = sim.http.get(f"/workspaces/{sim.workspace_id}/connectors/{connector['id']}", headers=sim.bird_headers)
        assert got.status_code == 200 and got.json() == connector
        sim.advance(10)
        assert sim.get_message(sent["id"], channel_id=channel_id)["status"] == "delivered"
        assert sim.send_sms("+31612345679", channel_id=channel_id)["channelId"] == channel_id


def test_concurrent_installs_of_one_number_make_one_channel(db):
    import asyncio

    from simulator.bird.errors import Conflict
    from simulator.bird.provider import BirdProvider

    with SimulatorServer(Settings(db=db(), clock="manual", port=0, log_level="warning")) as server:
        sim = server.sim
        connectors = sim.providers.get(BirdProvider).connectors
        workspace = next(iter(sim.world.bird.workspaces.values()))

        async def race() -> list[object]:
            # Both pass the check against the world before either has committed (group commit keeps the first
            # one waiting), so only the check inside the transaction can stop the second.
            return await asyncio.gather(*(connectors.install(workspace, {
                "name": f"race {i}", "arguments": {"phoneNumberId": f"id-{i}", "channelMessageType": "2fa",
                                                   "phoneNumber": "+3197010259999"}}) for i in range(4)),
                return_exceptions=True)

        results = server.call(race())
        assert sum(isinstance(r, dict) for r in results) == 1, results
        assert all(isinstance(r, Conflict) for r in results if not isinstance(r, dict)), results
        assert [c.number for c in workspace.channels.values()].count("+3197010259999") == 1
