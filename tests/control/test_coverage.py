"""GET/DELETE /_sim/coverage through HTTP: Bird's behaviours counted as they occur (statuses and failure paths, API
errors, webhook retries, duplicates, inbound traffic, clicks, batch rejections, media refusals), per workspace,
kept in the store across a full reset of the world and a restart, started over by DELETE."""
from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx

from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.testing import SimClient
from tests.bird.conftest import subscribe

OTHER_WORKSPACE = "5b4b2a1e-0000-4000-8000-0000000000ff"


def met(sim: Any, provider: str = "bird") -> dict[str, int]:
    return {k: v for k, v in sim.coverage_counts(provider).items() if v}


def test_every_status_path_is_counted_and_the_unmet_ones_say_how(provider_sim):
    provider_sim.reset_coverage()
    for suffix in ("0000", "0001", "0002", "0003", "0004", "0006"):
        provider_sim.send_sms(f"+1555123{suffix}", "hi")
    tomorrow = datetime.fromtimestamp(provider_sim.clock()["nowMs"] / 1000 + 86400, UTC)
    provider_sim.send_sms("+15551230000", "later", scheduledFor=tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ"))
    provider_sim.advance(10)
    assert met(provider_sim) == {"delivered": 1, "delivery_failed": 1, "sending_failed": 1,
                                 "no_delivery_report": 1, "rejected": 1, "skipped": 1, "scheduled": 1}
    report = provider_sim.coverage(provider="bird")
    section = report["providers"][0]
    assert section["provider"] == "bird" and section["met"] == 7 and section["total"] == len(section["behaviours"])
    unmet = {u["id"]: u for u in report["unmet"]}
    assert "delivered" not in unmet and "expired" in unmet
    assert unmet["expired"]["via"] == "magic number" and "0007" in unmet["expired"]["provoke"]
    assert unmet["api_error.503"]["via"] == "fault rule" and "/_sim/faults" in unmet["api_error.503"]["provoke"]
    assert report["met"] == 7 and report["percent"] == round(700 / report["total"], 1)

    # the rest of the lifecycle: slow DLR, expiry, a forced deletion
    slow = provider_sim.send_sms("+15551230005", "slow")
    provider_sim.send_sms("+15551230007", "expires", validity=60)
    provider_sim.advance(16 * 60)
    provider_sim.force_status(slow["id"], "deleted")  # delivered already: terminal, so nothing moves
    deleted = provider_sim.send_sms("+15551230003", "gone")
    provider_sim.force_status(deleted["id"], "deleted")
    counts = met(provider_sim)
    assert counts["slow_delivery_report"] == 1 and counts["delivered"] == 2
    assert counts["expired"] == 1 and counts["deleted"] == 1


def test_per_workspace_and_per_provider_and_text(provider_sim):
    provider_sim.reset_coverage()
    provider_sim.send_sms("+15551230000")
    provider_sim.advance(10)
    ws = provider_sim.workspace_id
    assert provider_sim.coverage_counts("bird", workspace=ws)["delivered"] == 1
    assert provider_sim.coverage_counts("bird", workspace=OTHER_WORKSPACE)["delivered"] == 0
    scoped = provider_sim.coverage(workspace=ws)
    assert [s["provider"] for s in scoped["providers"]] == ["bird"]  # only providers counting by workspace
    everything = provider_sim.coverage()
    assert {s["provider"] for s in everything["providers"]} == {"bird", "business_chat"}
    text = provider_sim.http.get("/_sim/coverage", params={"format": "text", "provider": "bird"})
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert "delivered" in text.text and "+15551230001" in text.text and "not met" in text.text


def test_bad_parameters_are_a_400_and_change_nothing(provider_sim):
    provider_sim.reset_coverage()
    provider_sim.send_sms("+15551230000")
    provider_sim.advance(10)
    for params in ({"provider": "nope"}, {"format": "xml"}, {"workspace": "a", "business": "b"},
                   {"provider": "bird", "business": "x"}, {"unknown": "1"}):
        r = provider_sim.http.get("/_sim/coverage", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["message"]
    r = provider_sim.http.delete("/_sim/coverage", params={"provider": "nope"})
    assert r.status_code == 400
    assert met(provider_sim) == {"delivered": 1}


def test_api_errors_are_counted_by_class(provider_sim):
    provider_sim.reset_coverage()
    path = provider_sim.messages_path()
    body = {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]},
            "body": {"type": "text", "text": {"text": "x"}}}
    h = provider_sim.bird_headers
    http = provider_sim.http
    assert http.post(path, json=body).status_code == 401
    assert http.post(path, json=body, headers={"Authorization": "AccessKey sim-bird-readonly-key-0002"}
                     ).status_code == 403
    assert http.get(path + "/00000000-0000-4000-8000-000000000000", headers=h).status_code == 404
    assert http.post(path, content=b"{", headers={**h, "content-type": "application/json"}).status_code == 400
    assert http.post(path, content=b"hi", headers={**h, "content-type": "text/plain"}).status_code == 415
    assert http.post(path, json={**body, "nope": 1}, headers=h).status_code == 422
    provider_sim.add_fault(provider="bird", operation="send_message", status=503, times=1)
    assert http.post(path, json=body, headers=h).status_code == 503
    provider_sim.bird_rate_limits(post_per_second=1)
    assert http.post(path, json=body, headers=h).status_code == 202
    assert http.post(path, json=body, headers=h).status_code == 429
    counts = met(provider_sim)
    for status in (400, 401, 403, 404, 415, 422, 429, 503):
        assert counts[f"api_error.{status}"] == 1, (status, counts)
    assert "api_error.409" not in counts and "api_error.413" not in counts
    assert provider_sim.coverage_counts("bird", workspace=provider_sim.workspace_id)["api_error.422"] == 1


def test_webhook_error_retry_and_duplicate(provider_sim, provider_sim_receiver):
    provider_sim.reset_coverage()
    subscribe(provider_sim, provider_sim_receiver.url + "/hook",
              filters=[{"key": "messageStatus", "value": "accepted"}])
    provider_sim_receiver.set_responses([500])
    provider_sim.send_sms("+15551230000")
    provider_sim_receiver.wait_for(1)
    provider_sim.advance(1)
    counts = met(provider_sim)
    assert counts.get("webhook.error_answer") == 1 and "webhook.retried" not in counts
    provider_sim.advance(30)
    provider_sim_receiver.wait_for(2)
    counts = met(provider_sim)
    assert counts["webhook.retried"] == 1 and counts["webhook.error_answer"] == 1
    provider_sim.control("PUT", "/_sim/webhooks", {"duplicateProbability": 1})
    provider_sim.send_sms("+15551230000")
    provider_sim.advance(1)
    provider_sim_receiver.wait_for(4)
    assert met(provider_sim)["webhook.duplicate"] == 1


def test_webhook_to_nowhere_is_unreachable(provider_sim):
    import socket

    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider_sim.reset_coverage()
    subscribe(provider_sim, f"http://127.0.0.1:{port}/hook", filters=[{"key": "messageStatus", "value": "accepted"}])
    provider_sim.send_sms("+15551230000")
    provider_sim.advance(1)
    assert met(provider_sim)["webhook.unreachable"] == 1


def test_inbound_keywords_click_opt_out_and_batch(provider_sim):
    provider_sim.reset_coverage()
    sent = provider_sim.send_sms("+15551230000", "see https://example.com/x")
    provider_sim.bird_click(sent["id"], "https://example.com/x")
    provider_sim.bird_inbound("+15557770000", "hello")
    provider_sim.bird_inbound("+15557770000", "STOP")
    provider_sim.send_sms("+15557770000", "after stop")
    provider_sim.bird_inbound("+15557770000", "start")
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(16)).decode()
    provider_sim.bird_inbound("+15557770000", "", media=[{"contentType": "image/png", "base64": png}])
    batch = {"messageRequests": [
        {"receiver": {"contacts": [{"identifierValue": "+15551230000"}]}, "body": {"type": "text", "text": {"text": "a"}}},
        {"receiver": {"contacts": [{"identifierValue": "not a number"}]}, "body": {"type": "text", "text": {"text": "b"}}}]}
    r = provider_sim.http.post(provider_sim.messages_path().replace("/messages", "/batch/messages"), json=batch,
                               headers=provider_sim.bird_headers)
    assert r.status_code == 202, r.text
    counts = met(provider_sim)
    assert counts["click"] == 1
    assert counts["inbound.sms"] == 3 and counts["inbound.stop"] == 1 and counts["inbound.start"] == 1
    assert counts["inbound.mms"] == 1
    assert counts["opted_out"] == 1
    assert counts["batch_item_rejected"] == 1


def _ticket(sim: Any) -> dict[str, Any]:
    r = sim.http.post(f"/workspaces/{sim.workspace_id}/presigned-upload", json={"contentType": "text/plain"},
                      headers=sim.bird_headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _upload(ticket: dict[str, Any], data: bytes) -> httpx.Response:
    return httpx.post(ticket["uploadUrl"], data=ticket["uploadFormData"],
                      files={"file": ("x.txt", data, "text/plain")}, timeout=30)


def test_media_upload_expired(provider_sim):
    provider_sim.reset_coverage()
    late = _ticket(provider_sim)
    provider_sim.advance(3601)
    assert _upload(late, b"hello").status_code == 403
    assert met(provider_sim) == {"media.upload_expired": 1}


def test_counts_outlive_a_world_reset_and_start_over_on_delete(provider_sim):
    provider_sim.reset_coverage()
    provider_sim.send_sms("+15551230001")
    provider_sim.advance(10)
    provider_sim.reset()
    assert met(provider_sim) == {"delivery_failed": 1}
    assert provider_sim.reset_coverage("business_chat") == {"reset": "business_chat"}
    assert met(provider_sim) == {"delivery_failed": 1}
    assert provider_sim.reset_coverage() == {"reset": "all"}
    assert met(provider_sim) == {}


def test_counts_are_in_the_store_a_restart_finds_them(provider_sim_settings, db, tmp_path):
    settings = provider_sim_settings.replace(db=db("coverage-restart"), port=0, max_upload_bytes=1000,
                                             media_dir=str(tmp_path / "media"))
    server = SimulatorServer(settings).start()
    try:
        with SimClient(server.url) as sim:
            sim.send_sms("+15551230000")
            sim.send_sms("+15551230002")
            sim.advance(10)
            assert _upload(_ticket(sim), b"x" * 1001).status_code == 400
    finally:
        server.stop()  # no read flushed them: closing writes the pending increments
    server = SimulatorServer(settings).start()
    try:
        with SimClient(server.url) as sim:
            assert met(sim) == {"delivered": 1, "sending_failed": 1, "media.upload_too_large": 1}
    finally:
        server.stop()


def test_a_world_without_business_chat_lists_only_bird(tmp_path):
    import yaml

    from simulator.resources import fixtures_root

    world = tmp_path / "bird-only.yaml"
    raw = yaml.safe_load(fixtures_root().joinpath("default-world.yaml").read_text())
    raw.pop("business_chat", None)
    world.write_text(yaml.safe_dump(raw))
    with SimulatorServer(Settings(db=":memory:", clock="manual", port=0, config=str(world))) as server, \
            SimClient(server.url) as sim:
        report = sim.coverage()
        assert [s["provider"] for s in report["providers"]] == ["bird"]
        assert report["total"] == report["providers"][0]["total"] > 0


def test_a_webhook_left_unanswered_is_a_timeout(provider_sim_receiver):
    settings = Settings(db=":memory:", clock="manual", port=0, webhook_timeout=0.2)
    with SimulatorServer(settings) as server, SimClient(server.url) as sim:
        subscribe(sim, provider_sim_receiver.url + "/hook", filters=[{"key": "messageStatus", "value": "accepted"}])
        provider_sim_receiver.hold(max_seconds=5)
        try:
            sim.send_sms("+15551230000")
            sim.advance(1)  # returns once the attempt in flight is recorded: timed out after 0.2 s
        finally:
            provider_sim_receiver.release()
        assert met(sim) == {"webhook.timeout": 1}
