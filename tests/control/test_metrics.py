"""GET /_sim/metrics through HTTP: Prometheus' own parser reads it, and its figures move with traffic."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def scrape(sim) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = sim.http.get("/_sim/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def value(metrics, name: str, **labels: str) -> float:
    return sum(v for have, v in metrics.get(name, []) if all(have.get(k) == w for k, w in labels.items()))


def test_metrics_parse_and_move_with_traffic(provider_sim, provider_sim_receiver):
    provider_sim.reset()
    route = "/workspaces/{workspace_id}/channels/{channel_id}/messages"
    before = scrape(provider_sim)
    provider_sim.http.post(f"/workspaces/{provider_sim.workspace_id}/webhook-subscriptions",
                           json={"service": "channels", "event": "sms.outbound", "url": provider_sim_receiver.url,
                                 "signingKey": "k"}, headers=provider_sim.bird_headers)
    for _ in range(3):
        provider_sim.send_sms("+15551230000")
    bad = provider_sim.http.post(provider_sim.messages_path(), json={"receiver": {"contacts": []}},
                                 headers=provider_sim.bird_headers)
    assert bad.status_code == 422
    after_sends = scrape(provider_sim)
    sent = (value(after_sends, "provider_sim_requests_total", provider="bird", route=route, status="202")
            - value(before, "provider_sim_requests_total", provider="bird", route=route, status="202"))
    assert sent == 3
    assert value(after_sends, "provider_sim_requests_total", route=route, status="422") \
        - value(before, "provider_sim_requests_total", route=route, status="422") == 1
    assert value(after_sends, "provider_sim_request_duration_seconds_count", provider="bird", route=route) \
        - value(before, "provider_sim_request_duration_seconds_count", provider="bird", route=route) == 4
    assert value(after_sends, "provider_sim_jobs_pending") >= 3  # each message's next transition
    assert value(after_sends, "provider_sim_store_bytes") > 0
    assert value(after_sends, "provider_sim_event_loop_lag_seconds") >= 0
    provider_sim.advance(60)  # the lifecycle runs and its webhooks go out
    done = scrape(provider_sim)
    assert value(done, "provider_sim_webhook_attempts_total", provider="bird", outcome="delivered") \
        - value(before, "provider_sim_webhook_attempts_total", provider="bird", outcome="delivered") >= 3
    assert value(done, "provider_sim_jobs_due") == 0
    assert value(done, "provider_sim_outbox_pending") == 0
