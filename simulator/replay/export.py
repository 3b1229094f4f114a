"""Recording: turn the journal into a scenario skeleton (YAML) that replays the session's requests."""
from __future__ import annotations

import json
from typing import Any

import yaml

from simulator.core.simulation import Simulation


def _aliases(sim: Simulation) -> dict[str, str]:
    """Concrete ids and keys -> their {{variable}} so the skeleton runs against any simulator with the same world."""
    out: dict[str, str] = {}
    bird = sim.world.bird
    out[bird.organization_id] = "{{bird.org}}"
    workspaces = list(bird.workspaces.values())
    for wi, ws in enumerate(workspaces):
        out[ws.id] = "{{bird.workspace}}" if wi == 0 else f"{{{{bird.workspaces.{wi}}}}}"
        if wi == 0:
            for ci, ch in enumerate(ws.channels.values()):
                out[ch.id] = "{{bird.channel}}" if ci == 0 else f"{{{{bird.channels.{ci}}}}}"
    bc = sim.world.business_chat
    if bc:
        for i, b in enumerate(bc.get("businesses") or []):
            out[b["id"]] = "{{bc.business}}" if i == 0 else f"{{{{bc.businesses.{i}}}}}"
        for i, c in enumerate(bc.get("customers") or []):
            out[c["id"]] = "{{bc.customer}}" if i == 0 else f"{{{{bc.customers.{i}}}}}"
    return out


MAX_EXPORT_DEPTH = 64


def _depth(value: object) -> int:
    """How deeply lists and objects nest in ``value`` (iteratively: the value may be nested past the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _sub(value: Any, aliases: dict[str, str]) -> Any:
    if isinstance(value, str):
        for concrete, alias in sorted(aliases.items(), key=lambda kv: -len(kv[0])):
            if concrete and concrete in value:
                value = value.replace(concrete, alias)
        return value
    if isinstance(value, dict):
        return {k: _sub(v, aliases) for k, v in value.items()}
    if isinstance(value, list):
        return [_sub(v, aliases) for v in value]
    return value


def _object_or_empty(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def export_steps(entries: list[dict[str, Any]], sim: Simulation) -> list[dict[str, Any]]:
    aliases = _aliases(sim)
    hooks = {str(e.get("path")).split("/", 3)[2] for e in entries if e.get("kind") == "webhook" and e.get("path")}
    steps: list[dict[str, Any]] = []
    last_ms: int | None = None
    counter = 0
    for e in entries:
        at = e.get("atMs")
        if e.get("kind") == "webhook":
            body = _object_or_empty(e.get("body"))
            payload = _object_or_empty(body.get("payload"))
            match = {f"payload.{k}": payload[k] for k in ("id", "status") if k in payload}
            step: dict[str, Any] = {"expect_webhook": {"event": e.get("event"), "match": _sub(match, aliases)}}
            step["note"] = f"webhook {e.get('event')} (attempt {e.get('attempt')}) was sent to {e.get('path')}"
            steps.append(step)
            continue
        if last_ms is not None and isinstance(at, int) and at > last_ms:
            steps.append({"advance": round((at - last_ms) / 1000, 3)})
        if isinstance(at, int):
            last_ms = at if last_ms is None else max(last_ms, at)
        if e.get("operation") == "advance_clock":
            body = _object_or_empty(e.get("body"))
            if isinstance(body.get("seconds"), int | float):
                steps.append({"advance": body["seconds"]})
                last_ms = (last_ms or 0) + int(body["seconds"] * 1000)
            continue
        counter += 1
        name = f"r{counter}"
        request: dict[str, Any] = {"method": e.get("method"), "path": e.get("path")}
        if e.get("query"):
            request["path"] = f"{e['path']}?{e['query']}"
        note = None
        if e.get("body") is not None:
            if _depth(e["body"]) > MAX_EXPORT_DEPTH:
                # The YAML writer recurses per level (a fuzzer's 300-level body was a 500 here); no real scenario
                # nests this deep, so the step says what it left out.
                note = f"request body nested deeper than {MAX_EXPORT_DEPTH} levels: left out of the export"
            else:
                request["json"] = e["body"]
        request = _sub(request, aliases)
        for host in hooks:  # the app's webhook URL becomes the replay's own receiver
            request = json.loads(json.dumps(request).replace(f"http://{host}", "{{receiver.url}}")
                                 .replace(f"https://{host}", "{{receiver.url}}"))
        kind = "control" if e.get("kind") == "control" else "request"
        step = {"name": name, kind: request}
        if note:
            step["note"] = note
        status = (e.get("response") or {}).get("status")
        if isinstance(status, int):
            step["expect"] = {"status": status}
        steps.append(step)
        response = (e.get("response") or {}).get("body")
        if isinstance(response, dict) and isinstance(response.get("id"), str) and response["id"] not in aliases:
            aliases[response["id"]] = f"{{{{steps.{name}.id}}}}"
    return steps


def export_yaml(entries: list[dict[str, Any]], sim: Simulation, *, name: str = "recorded session") -> str:
    steps = export_steps(entries, sim)
    doc: dict[str, Any] = {"name": name, "description": "Exported from the journal; edit the expectations.",
                           "seed": sim.random.seed}
    if sim.world.source and sim.world.source != "embedded default":
        doc["config"] = sim.world.source
    doc["steps"] = steps or [{"advance": 0}]
    header = "# Recorded by provider-sim (GET /_sim/journal/export-scenario). Replay: provider-sim replay <file>\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)
