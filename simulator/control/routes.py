"""The core control plane's URL table (/_sim/...): each route with its summary, query parameters and an example.

Providers add their own under /_sim/<provider> (Provider.control_routes)."""
from __future__ import annotations

from starlette.routing import BaseRoute

from simulator.control import coverage, faults, journal, openapi, outbox, retention, stream, world
from simulator.control.routing import Param, route

routes: list[BaseRoute] = [
    route("GET", "/_sim/health", world.health, "Liveness: status, version, uptime, clock."),
    route("GET", "/_sim/metrics", world.metrics, "Prometheus text format: requests by provider, route and status "
          "with latency histograms, webhook attempts by outcome, event-loop lag, due jobs, pending deliveries, the "
          "store's size."),
    route("GET", "/_sim/info", world.info, "The seeded world: each provider's ids and credentials (Bird access keys, "
          "workspaces, channels; Business Chat MSP, businesses, customers), the seed and the clock."),
    route("POST", "/_sim/reset", world.reset,
          "Reset the whole world (optionally with a new seed) or one scope: workspace, channel, business or "
          "customer. A full reset also clears the journal and fault rules and restores the webhook knobs.",
          query=(*(Param(k, f"reset only this {k} (or give it in the body)", "an id") for k in world.RESET_SCOPES),
                 Param("seed", "a full reset with this seed (or give it in the body)", "7")),
          example={"workspace": "5b4b2a1e-0000-4000-8000-00000000a001"}),
    route("GET", "/_sim/clock", world.get_clock, "Clock mode, now, pending jobs and the next due time."),
    route("POST", "/_sim/clock/advance", world.advance_clock,
          "Move the clock forward; returns after everything due by then ran (webhooks too). Seen from other "
          "requests it is one jump: a send that arrives while it runs is stamped at its target, and work other "
          "requests cause meanwhile runs right after it. Concurrent advances add up.", example={"seconds": 10}),
    route("POST", "/_sim/clock/run-due", world.run_due, "Run whatever is due now without moving the clock."),
    route("GET", "/_sim/journal", journal.get_journal,
          "Journal of provider requests, control mutations and webhook attempts, filtered.",
          query=journal.FILTER_PARAMS),
    route("DELETE", "/_sim/journal", journal.clear_journal, "Clear the journal."),
    route("POST", "/_sim/journal/wait", journal.wait_journal,
          "Block until `count` entries match the filters (or `timeout` seconds pass: 408 with what did match).",
          example={"kind": "webhook", "event": "sms.outbound", "count": 1, "timeout": 5}),
    route("GET", "/_sim/journal/export-scenario", journal.export_scenario,
          "The journal as a replayable scenario skeleton (YAML).",
          query=(Param("name", "the scenario's name", "checkout flow"),)),
    route("GET", "/_sim/faults", faults.list_faults, "Active fault rules and the webhook knobs."),
    route("POST", "/_sim/faults", faults.add_faults,
          "Add a fault rule, several ({rules: [...]}) and/or set webhook knobs ({webhooks: {...}}, the names of "
          "/_sim/webhooks).", example={"provider": "bird", "operation": "send_message",
                                       "match": {"receiver": "+15551230009"}, "status": 429, "retryAfter": 2,
                                       "times": 1}),
    route("DELETE", "/_sim/faults", faults.clear_faults, "Remove every fault rule and restore every webhook knob."),
    route("DELETE", "/_sim/faults/{rule_id}", faults.delete_fault, "Remove one fault rule."),
    route("GET", "/_sim/webhooks", faults.get_webhooks,
          "Webhook knobs (delaySeconds, duplicateProbability, reorder, reorderWindowSeconds and each provider's "
          "own, e.g. Bird's dlrDelaySeconds) and the retry schedule."),
    route("PUT", "/_sim/webhooks", faults.put_webhooks, "Set some webhook knobs; all of them or none (400).",
          example={"delaySeconds": 2, "duplicateProbability": 0.1, "reorder": True, "dlrDelaySeconds": 60}),
    route("DELETE", "/_sim/webhooks", faults.restore_webhooks, "Restore every webhook knob to the world config's."),
    route("GET", "/_sim/outbox", outbox.outbox, "Webhook deliveries of every provider, newest first, with their "
          "attempts and the outbox's counts.", query=outbox.OUTBOX_PARAMS),
    route("GET", "/_sim/events", stream.events, "Server-sent events: the simulation's event bus (provider events, "
          "webhook attempts, journal entries, clock, reset).", query=stream.STREAM_PARAMS),
    route("GET", "/_sim/coverage", coverage.get_coverage,
          "Behaviour coverage: each behaviour of each provider's catalogue (a status, a failure, an API error, a "
          "webhook retried, a customer's answer ...) with how often it occurred since the counts were last reset, "
          "and the ones never met with the way to provoke each (magic number, request, control-plane call, fault "
          "rule). A full reset of the world keeps the counts.", query=coverage.GET_PARAMS),
    route("DELETE", "/_sim/coverage", coverage.reset_coverage, "Start the behaviour counts over (every provider's, "
          "or one's).", query=coverage.DELETE_PARAMS),
    route("GET", "/_sim/retention", retention.get_retention,
          "Retention: each kind of data that accumulates (messages, deliveries, attachments ...) with how long it is "
          "kept in simulator time (0: kept forever), its default, about how many rows it has and how many sweeps "
          "removed."),
    route("POST", "/_sim/retention/sweep", retention.sweep,
          "Remove now, in small steps, whatever is older than its kind's retention (a sweep otherwise runs every "
          "retention_interval seconds); answers the rows removed per kind."),
    route("GET", "/_sim/openapi.json", openapi.openapi, "This document."),
    route("GET", "/_sim/docs", openapi.docs, "A page rendering this document."),
]
