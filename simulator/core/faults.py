"""Fault and latency injection rules, matched per request by provider, operation and request fields.

A rule (JSON, camelCase) looks like::

    {"provider": "bird", "operation": "send_message",
     "match": {"receiver": "+31612340001"},
     "status": 429, "retryAfter": 2,              # or 500 / 503 ..., rendered in the provider's error shape
     "latencyMs": 250  |  {"min": 100, "max": 400}, # wall-time delay before answering (or before the fault)
     "drop": true,                                 # close the connection without a complete response
     "times": 1,                                   # only the next N matches (omit: until deleted)
     "probability": 0.5}                           # drawn from the seeded RNG (sim.random.rng)

Webhook-side faults (delay, duplicate, reorder) map onto ``sim.outbox.knobs``.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.core.codec import is_digits

RULE_KEYS = {"id", "provider", "operation", "method", "match", "status", "code", "message", "retryAfter",
             "latencyMs", "drop", "times", "probability", "description"}
# Named request fields a rule can match; anything else must be body.<dotted>, header.<name>, path.<param>, query.<name>.
FIELD_ALIASES = {
    "receiver": "body.receiver.contacts[*].identifierValue (Bird; batch items too)",
    "workspace": "path.workspace_id",
    "channel": "path.channel_id",
    "customer": "header.destination-id",
    "business": "header.source-id",
}


class InvalidRule(ValueError):
    """A fault rule that cannot be used; ``details`` maps each field at fault to its problems."""

    def __init__(self, message: str, details: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass
class RequestFacts:
    """What a rule can look at; built by the middleware from the ASGI scope and the buffered body."""

    provider: str
    method: str
    path: str
    operation: str | None
    route: str | None
    path_params: dict[str, Any]
    headers: dict[str, str]
    query: dict[str, str]
    body: Any


@dataclass
class FaultRule:
    id: str
    provider: str = "*"
    operation: str | None = None
    method: str | None = None
    match: dict[str, Any] = field(default_factory=dict)
    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    latency_ms: tuple[float, float] | None = None
    drop: bool = False
    times: int | None = None
    probability: float | None = None
    description: str = ""
    hits: int = 0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "provider": self.provider, "operation": self.operation,
                                "method": self.method, "match": self.match, "status": self.status,
                                "code": self.code, "message": self.message, "retryAfter": self.retry_after,
                                "drop": self.drop, "times": self.times, "probability": self.probability,
                                "description": self.description, "hits": self.hits}
        if self.latency_ms is not None:
            lo, hi = self.latency_ms
            data["latencyMs"] = lo if lo == hi else {"min": lo, "max": hi}
        else:
            data["latencyMs"] = None
        return data

    def applies(self, facts: RequestFacts) -> bool:
        if self.provider != "*" and self.provider != facts.provider:
            return False
        if self.method and self.method.upper() != facts.method.upper():
            return False
        if self.operation and self.operation not in (facts.operation, facts.route, f"{facts.method} {facts.route}"):
            return False
        return all(_field_matches(facts, key, wanted) for key, wanted in self.match.items())


def _identifiers(contacts: Any) -> list[Any]:
    """The receivers' identifier values of a body not validated yet (contacts may be anything)."""
    return [c.get("identifierValue") for c in contacts if isinstance(c, dict)] if isinstance(contacts, list) else []


def _field_values(facts: RequestFacts, key: str) -> list[Any]:
    if key == "receiver":
        body = facts.body if isinstance(facts.body, dict) else {}
        contacts = ((body.get("receiver") or {}) if isinstance(body.get("receiver"), dict) else {}).get("contacts")
        values = _identifiers(contacts)
        # Batch sends: every item's receivers.
        for item in body.get("messageRequests") or [] if isinstance(body.get("messageRequests"), list) else []:
            if isinstance(item, dict) and isinstance(item.get("receiver"), dict):
                values += _identifiers(item["receiver"].get("contacts"))
        return values
    if key in FIELD_ALIASES:
        key = FIELD_ALIASES[key]
    source, _, rest = key.partition(".")
    if source == "path":
        return [facts.path_params.get(rest)]
    if source == "header":
        return [facts.headers.get(rest.lower())]
    if source == "query":
        return [facts.query.get(rest)]
    if source == "body":
        value: Any = facts.body
        for part in rest.split(".") if rest else []:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and is_digits(part) and int(part) < len(value):
                value = value[int(part)]
            else:
                return [None]
        return [value]
    return [None]


def _field_matches(facts: RequestFacts, key: str, wanted: Any) -> bool:
    values = _field_values(facts, key)
    wanted_list = wanted if isinstance(wanted, list) else [wanted]
    return any(v is not None and v in wanted_list for v in values)


def parse_rule(data: Any, rule_id: str, providers: tuple[str, ...]) -> FaultRule:
    """Validate a rule body; every problem is a 400 naming the field (never a 500)."""
    if not isinstance(data, dict):
        raise InvalidRule("a fault rule must be a JSON object")
    unknown = sorted(set(map(str, data)) - RULE_KEYS)
    if unknown:
        raise InvalidRule(f"unknown fault rule field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(RULE_KEYS))}",
                           details={k: ["unknown field"] for k in unknown})
    errors: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    provider = data.get("provider", "*")
    if provider != "*" and provider not in providers:
        bad("provider", f"must be one of {', '.join((*providers, '*'))}")
    for name in ("operation", "method", "code", "message", "description"):
        if data.get(name) is not None and not isinstance(data[name], str):
            bad(name, "must be a string")
    match = data.get("match") or {}
    if not isinstance(match, dict):
        bad("match", "must be an object of field -> value (or list of values)")
        match = {}
    for key in match:
        source = str(key).partition(".")[0]
        if key not in FIELD_ALIASES and source not in ("body", "header", "path", "query"):
            bad(f"match.{key}", f"unknown field; use one of {', '.join(FIELD_ALIASES)} or body.<a.b>, header.<name>,"
                                " path.<param>, query.<name>")
    status = data.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
        bad("status", "must be an HTTP error status between 400 and 599")
    retry_after = data.get("retryAfter")
    if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int | float)
                                    or not 0 <= retry_after <= 86400):
        bad("retryAfter", "must be a number of seconds between 0 and 86400")
    latency = _parse_latency(data.get("latencyMs"), bad)
    drop = data.get("drop", False)
    if not isinstance(drop, bool):
        bad("drop", "must be true or false")
    times = data.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        bad("times", "must be a positive integer (the next N matching requests)")
    probability = data.get("probability")
    if probability is not None and (isinstance(probability, bool) or not isinstance(probability, int | float)
                                    or not 0 <= probability <= 1):
        bad("probability", "must be a number between 0 and 1")
    if status is None and latency is None and not drop and not errors:
        bad("status", "a rule needs at least one effect: status, latencyMs or drop")
    if errors:
        first = next(iter(errors))
        raise InvalidRule(f"invalid fault rule: {first}: {errors[first][0]}", details=errors)
    return FaultRule(
        id=str(data.get("id") or rule_id), provider=provider, operation=data.get("operation"),
        method=data.get("method"), match=dict(match), status=status, code=data.get("code"),
        message=data.get("message"), retry_after=retry_after, latency_ms=latency, drop=drop, times=times,
        probability=probability, description=data.get("description") or "",
    )


def _parse_latency(value: Any, bad: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, bool):
        bad("latencyMs", "must be a number of milliseconds or {min, max}")
        return None
    if isinstance(value, int | float):
        lo = hi = float(value)
    elif isinstance(value, dict) and set(value) <= {"min", "max"}:
        low, high = value.get("min", 0), value.get("max", value.get("min", 0))
        if isinstance(low, bool) or isinstance(high, bool) or not isinstance(low, int | float) \
                or not isinstance(high, int | float):
            bad("latencyMs", "min and max must be numbers")
            return None
        lo, hi = float(low), float(high)
    else:
        bad("latencyMs", "must be a number of milliseconds or {min, max}")
        return None
    if not 0 <= lo <= hi <= 60_000:
        bad("latencyMs", "must satisfy 0 <= min <= max <= 60000")
        return None
    return float(lo), float(hi)


@dataclass
class Decision:
    rule: FaultRule
    latency_s: float = 0.0


@dataclass
class Faults:
    """The rule list. ``pick`` runs for each provider request; first matching rule that fires wins."""

    rng: random.Random
    providers: tuple[str, ...] = ()  # the names a rule's "provider" may take (besides "*")
    rules: list[FaultRule] = field(default_factory=list)
    counter: int = 0
    # Told after every change (a rule added, removed, or fired): the simulation saves the rules where the store
    # keeps control state (core/state.py).
    on_change: Callable[[], None] = field(default=lambda: None, repr=False)

    def dumps(self) -> str:
        """The rules (with their hits) and the id counter as JSON: what ``loads`` puts back."""
        return json.dumps({"counter": self.counter, "rules": [
            {"spec": {k: v for k, v in r.to_dict().items() if k != "hits" and v is not None}, "hits": r.hits}
            for r in self.rules]}, separators=(",", ":"))

    def loads(self, text: str) -> None:
        data = json.loads(text)
        rules = []
        for saved in data.get("rules", []):
            rule = parse_rule(saved["spec"], str(saved["spec"].get("id", "")), self.providers)
            rule.hits = int(saved.get("hits", 0))
            rules.append(rule)
        self.rules, self.counter = rules, int(data.get("counter", 0))

    def check(self, data: Any) -> FaultRule:
        """The rule ``data`` describes (InvalidRule if it is not one), without adding it."""
        return parse_rule(data, "check", self.providers)

    def add(self, data: Any) -> FaultRule:
        self.counter += 1
        rule = parse_rule(data, f"fault-{self.counter}", self.providers)
        self.rules = [r for r in self.rules if r.id != rule.id] + [rule]
        self.on_change()
        return rule

    def remove(self, rule_id: str) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        self.on_change()
        return len(self.rules) != before

    def clear(self) -> int:
        count = len(self.rules)
        self.rules.clear()
        self.counter = 0
        self.on_change()
        return count

    def pick(self, facts: RequestFacts) -> Decision | None:
        for rule in list(self.rules):
            if not rule.applies(facts):
                continue
            if rule.probability is not None and self.rng.random() >= rule.probability:
                continue
            rule.hits += 1
            if rule.times is not None and rule.hits >= rule.times:
                self.rules.remove(rule)
            self.on_change()
            latency = 0.0
            if rule.latency_ms is not None:
                lo, hi = rule.latency_ms
                latency = (lo if lo == hi else self.rng.uniform(lo, hi)) / 1000
            return Decision(rule, latency)
        return None
