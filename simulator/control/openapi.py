"""The control plane's OpenAPI document, built from the route table plus a hand-written summary per endpoint,
and a self-contained docs page (no CDN) that renders it as a table."""
from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from simulator import __version__

# "METHOD path" -> (summary, request body example or None). Endpoints added by providers but missing here are
# still listed (from the route table) with their handler's docstring.
DESCRIBED: dict[str, tuple[str, Any]] = {
    "GET /_sim/health": ("Liveness: status, version, uptime, clock.", None),
    "GET /_sim/info": ("The seeded world: Bird access keys, workspaces, channels; Business Chat MSP, businesses, "
                       "customers.", None),
    "POST /_sim/reset": ("Reset the whole world (optionally with a new seed) or one scope: workspace, channel, "
                         "business or customer. A full reset also clears the journal and fault rules.",
                         {"workspace": "5b4b2a1e-0000-4000-8000-00000000a001"}),
    "GET /_sim/clock": ("Clock mode, now, pending jobs and the next due time.", None),
    "POST /_sim/clock/advance": ("Move the clock forward; returns after everything due by then ran (webhooks too). Seen "
                                 "from other requests it is one jump: a send that arrives while it runs is stamped "
                                 "at its target, and work other requests cause meanwhile runs right after it. Concurrent "
                                 "advances add up.",
                                 {"seconds": 10}),
    "POST /_sim/clock/run-due": ("Run whatever is due now without moving the clock.", None),
    "GET /_sim/journal": ("Journal of provider requests, control mutations and webhook attempts. Filters: kind, "
                          "provider, operation, method, status (202 or 4xx), path (prefix), since (RFC 3339 or ms), "
                          "sinceSeq, event, limit.", None),
    "DELETE /_sim/journal": ("Clear the journal.", None),
    "POST /_sim/journal/wait": ("Block until `count` entries match the filters (or `timeout` seconds pass: 408 "
                                "with what did match).", {"kind": "webhook", "event": "sms.outbound", "count": 1,
                                                          "timeout": 5}),
    "GET /_sim/journal/export-scenario": ("The journal as a replayable scenario skeleton (YAML).", None),
    "GET /_sim/faults": ("Active fault rules and webhook-side fault knobs.", None),
    "POST /_sim/faults": ("Add a fault rule, several ({rules: [...]}) and/or webhook faults ({webhooks: {...}}).",
                          {"provider": "bird", "operation": "send_message", "match": {"receiver": "+15551230009"},
                           "status": 429, "retryAfter": 2, "times": 1}),
    "DELETE /_sim/faults": ("Remove every fault rule and restore webhook knobs.", None),
    "DELETE /_sim/faults/{rule_id}": ("Remove one fault rule.", None),
    "GET /_sim/openapi.json": ("This document.", None),
    "GET /_sim/docs": ("A page rendering this document.", None),
    "POST /_sim/bird/messages/{message_id}/status": ("Force a Bird message status now (webhook emitted).",
                                                     {"status": "delivered"}),
    "GET /_sim/bird/rate-limits": ("Bird's per-workspace rate limits as applied now (off unless configured).", None),
    "PUT /_sim/bird/rate-limits": ("Turn on Bird's rate limits (GET/POST per workspace per simulated second; 429 "
                                   "with Retry-After beyond) or off with {enabled: false}.",
                                   {"getPerSecond": 50, "postPerSecond": 500}),
    "GET /_sim/bird/outcomes": ("Receiver-suffix outcomes, available outcomes, timing profiles.", None),
    "GET /_sim/business-chat": ("Business Chat: MSP id, secret, gateway URL, businesses and settings.", None),
    "GET /_sim/business-chat/customers": ("Simulated customers (seeded and created).", None),
    "POST /_sim/business-chat/customers": ("Create a simulated customer (id, name, businessId, capabilities, ...).",
                                           {"name": "Cleo", "capabilities": ["LIST", "TIME"]}),
    "GET /_sim/business-chat/businesses/{business_id}": ("A business and its MSP endpoints (webhook URL ...).", None),
    "POST /_sim/business-chat/businesses/{business_id}": ("Set a business's webhookUrl / paymentGatewayUrl.",
                                                          {"webhookUrl": "http://127.0.0.1:9000"}),
    "POST /_sim/business-chat/businesses/{business_id}/customers/{customer_id}/text": (
        "The customer writes a text message (delivered to the MSP webhook).", {"text": "I need help"}),
    "POST /_sim/business-chat/businesses/{business_id}/customers/{customer_id}/attachment": (
        "The customer sends an attachment (encrypted and uploaded like a device would).", None),
    "POST /_sim/business-chat/businesses/{business_id}/customers/{customer_id}/typing/{what}": (
        "The customer starts or stops typing (what = start | end).", None),
    "POST /_sim/business-chat/businesses/{business_id}/customers/{customer_id}/close": (
        "The customer closes the conversation.", None),
    "POST /_sim/business-chat/businesses/{business_id}/customers/{customer_id}/tapback": (
        "The customer reacts to a message with a tapback.", None),
}


def control_operations(app: Starlette) -> list[tuple[str, str, str]]:
    """(method, path, summary) for every /_sim route, in route-table order."""
    ops: list[tuple[str, str, str]] = []
    for route in app.router.routes:
        if not isinstance(route, Route) or not route.path.startswith("/_sim"):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # {what:str} -> {what}
        for method in sorted((route.methods or set()) - {"HEAD"}):
            key = f"{method} {path}"
            summary = DESCRIBED.get(key, (None, None))[0]
            if summary is None:
                doc = (getattr(route.endpoint, "__doc__", None) or "").strip()
                summary = doc.splitlines()[0] if doc else route.name.replace("_", " ")
            ops.append((method, path, summary))
    return ops


def build_openapi(app: Starlette) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    error = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for method, path, summary in control_operations(app):
        op: dict[str, Any] = {
            "summary": summary,
            "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "tags": [path.split("/")[2] if path.count("/") >= 2 else "core"],
            "responses": {"200": {"description": "OK", "content": {"application/json": {}}}, "400": error,
                          "404": error},
        }
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{") and seg.endswith("}")]
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                for p in params]
        example = DESCRIBED.get(f"{method} {path}", (None, None))[1]
        if method in ("POST", "PUT", "PATCH"):
            op["requestBody"] = {"required": example is not None, "content": {"application/json": {
                "schema": {"type": "object"}, **({"example": example} if example is not None else {})}}}
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "provider-simulator control plane", "version": __version__,
                 "description": "Everything under /_sim: world info, reset, clock, journal, faults and the "
                                "per-provider helpers (Bird, Business Chat). JSON in and out; errors are "
                                '{"error": {"code", "message", "details"?}}.'},
        "paths": paths,
        "components": {"schemas": {"Error": {"type": "object", "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}}}}}},
    }


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>provider-simulator control plane</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem .6rem;text-align:left;
vertical-align:top}th{background:#f4f4f4}code{font-family:ui-monospace,monospace}
.m{font-weight:600;font-family:ui-monospace,monospace}.GET{color:#0a6}.POST{color:#06c}.DELETE{color:#c30}
pre{background:#f7f7f7;padding:.3rem;margin:0;white-space:pre-wrap}
</style></head><body>
<h1>provider-simulator control plane</h1>
<p>Rendered from <a href="/_sim/openapi.json"><code>/_sim/openapi.json</code></a>. No external resources.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>What it does</th><th>Example body</th></tr></thead>
<tbody id="ops"><tr><td colspan="4">loading…</td></tr></tbody></table>
<script>
fetch('/_sim/openapi.json').then(r => r.json()).then(doc => {
  const rows = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const ex = op.requestBody && op.requestBody.content['application/json'].example;
      const tr = document.createElement('tr');
      const cells = [method.toUpperCase(), path, op.summary || '', ex ? JSON.stringify(ex, null, 1) : ''];
      cells.forEach((text, i) => {
        const td = document.createElement('td');
        if (i === 0) { td.className = 'm ' + text; td.textContent = text; }
        else if (i === 1) { const c = document.createElement('code'); c.textContent = text; td.appendChild(c); }
        else if (i === 3 && text) { const p = document.createElement('pre'); p.textContent = text; td.appendChild(p); }
        else td.textContent = text;
        tr.appendChild(td);
      });
      rows.push(tr);
    }
  }
  const body = document.getElementById('ops'); body.replaceChildren(...rows);
});
</script></body></html>
"""
