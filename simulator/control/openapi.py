"""The control plane's OpenAPI document, built from what each control route says of itself (control/routing.py),
and a self-contained docs page (no CDN) that renders it as a table."""
from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from simulator import __version__
from simulator.control.routing import ControlRoute


def control_operations(app: Starlette) -> list[tuple[str, str, ControlRoute]]:
    """(method, path, route) for every /_sim route that documents itself, in route-table order."""
    ops: list[tuple[str, str, ControlRoute]] = []
    for route in app.router.routes:
        if not isinstance(route, ControlRoute):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # {what:str} -> {what}
        for method in sorted((route.methods or set()) - {"HEAD"}):
            ops.append((method, path, route))
    return ops


def build_openapi(app: Starlette) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    error = {"description": "Error",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for method, path, route in control_operations(app):
        doc = route.doc
        op: dict[str, Any] = {
            "summary": doc.summary,
            "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "tags": [path.split("/")[2] if path.count("/") >= 2 else "core"],
            "responses": {"200": {"description": "OK", "content": {"application/json": {}}}, "400": error,
                          "404": error},
        }
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{") and seg.endswith("}")]
        parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
        parameters += [{"name": q.name, "in": "query", "required": False, "description": q.description,
                        "schema": {"type": "string"}, **({"example": q.example} if q.example else {})}
                       for q in doc.query]
        if parameters:
            op["parameters"] = parameters
        example = doc.example
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


async def openapi(request: Request) -> Response:
    return JSONResponse(build_openapi(request.app))


async def docs(request: Request) -> Response:
    return HTMLResponse(DOCS_HTML)
