"""What Bird refuses in a send beyond its schema: the rules its API documents that a schema cannot say.
Never sees HTTP."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from simulator.bird.config import Channel
from simulator.bird.errors import InvalidPayload
from simulator.core.clock import parse_rfc3339
from simulator.core.schemas import SchemaStore

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_SCHEDULE_AHEAD_MS = 35 * 24 * 3600 * 1000


def send_issues(schemas: SchemaStore, channel: Channel, payload: Any, now_ms: int,
                url_problem: Callable[[str], str | None] | None = None) -> dict[str, list[str]]:
    """Every problem of a send request keyed by JSON path ({} when Bird would accept it): what the schema finds
    and Bird's own rules together, so one answer names all of them. ``url_problem``: the rule for URLs the
    simulator calls (core/urls.py), which a per-message ``notification.url`` follows as a subscription's does."""
    if not isinstance(payload, dict):
        return {".": ["the request body must be a JSON object"]}
    issues = schemas.issues("bird/send-message", payload)
    found: dict[str, list[str]] = dict(InvalidPayload.from_issues(issues).details) if issues else {}
    rules = semantic_issues(channel, payload, now_ms)
    notification = payload.get("notification")
    url = notification.get("url") if isinstance(notification, dict) else None
    if url_problem is not None and isinstance(url, str) and url and (problem := url_problem(url)):
        rules.setdefault(".notification.url", []).append(problem)
    for path, messages in rules.items():
        known = found.setdefault(path, [])
        known += [m for m in messages if m not in known]
    return found


def receiver_address(contact: dict[str, Any]) -> str | None:
    """The phone number a receiver names: ``identifierValue``, else ``platformAddress`` (the raw address toward
    the platform), else a ``phonenumber`` entry of ``identifiers`` (Bird's extra identifiers for matching)."""
    for name in ("identifierValue", "platformAddress"):
        if isinstance(contact.get(name), str) and contact[name]:
            return contact[name]  # type: ignore[no-any-return]
    identifiers = contact.get("identifiers")
    for item in identifiers if isinstance(identifiers, list) else []:
        if isinstance(item, dict) and item.get("identifierKey") in (None, "phonenumber") \
                and isinstance(item.get("identifierValue"), str) and item["identifierValue"]:
            return item["identifierValue"]  # type: ignore[no-any-return]
    return None


def invalid_input(problems: dict[str, list[str]]) -> dict[str, Any]:
    """The failure a batch item gets for what a single send would answer 422: Bird's 11001/11002 pre-processing."""
    many = any("exactly one receiver" in m for msgs in problems.values() for m in msgs)
    return {
        "reason": "; ".join(f"{path}: {', '.join(msgs)}" for path, msgs in problems.items())[:1000],
        "details": "invalid_channel_configuration" if many else "invalid_input",
        "failure": {"code": 11001 if many else 11002,
                    "description": "invalid channel configuration" if many else "invalid input",
                    "source": {"code": "11001" if many else "11002", "name": "pre-processing"}},
    }


def semantic_issues(channel: Channel, request: dict[str, Any], now_ms: int) -> dict[str, list[str]]:
    """The rules Bird enforces that a schema cannot say. Empty when the request is acceptable."""
    issues: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        issues.setdefault(path, []).append(message)

    # Bird declares template nullable: "template": null is a body send.
    has_body, has_template = "body" in request, request.get("template") is not None
    if has_body == has_template:
        add(".body" if not has_body else ".template",
            "exactly one of body or template must be set" if not has_body
            else "body and template cannot be used together; set only one")
    # Any shape reaches here (the schema's findings are reported beside these): look only at what is typed right.
    receiver = request.get("receiver")
    contacts = receiver.get("contacts") if isinstance(receiver, dict) else None
    contacts_list = [c for c in contacts if isinstance(c, dict)] if isinstance(contacts, list) else []
    if len(contacts_list) > 1:
        add(".receiver.contacts", f"SMS messages take exactly one receiver, got {len(contacts_list)}"
            " (multiple receivers are only supported for email)")
    for i, contact in enumerate(contacts_list[:1]):
        value = receiver_address(contact)
        key = contact.get("identifierKey")
        if key is not None and key != "phonenumber":
            add(f".receiver.contacts[{i}].identifierKey", f'SMS receivers are identified by "phonenumber", got "{key}"')
        if value is None and "id" not in contact:
            add(f".receiver.contacts[{i}]", 'property "identifierValue" (or "platformAddress", a phonenumber in '
                '"identifiers", or a contact "id") is required')
        elif value is not None and not E164.match(value):
            field = "identifierValue" if "identifierValue" in contact else "platformAddress" \
                if "platformAddress" in contact else "identifiers"
            add(f".receiver.contacts[{i}].{field}",
                f'"{value}" is not an E.164 phone number (expected + followed by 7 to 15 digits)')
    body = request.get("body")
    if isinstance(body, dict):
        kind = body.get("type")
        if kind not in ("text", "image", "file"):
            add(".body.type", f'body type "{kind}" is not supported on SMS channels (use text, image or file)')
        elif kind not in body:
            add(f".body.{kind}", f'property "{kind}" is required when body.type is "{kind}"')
        for other in ("text", "image", "file", "html", "gif", "location", "carousel", "list", "section",
                      "authentication", "action"):
            if other != kind and other in body:
                add(f".body.{other}", f'property "{other}" does not match body.type "{kind}"')
        if kind in ("image", "file"):
            if not channel.mms:
                add(".body.type", f'{kind} messages need an MMS-capable channel; channel {channel.id} '
                    f'({channel.number}, {channel.country}) is SMS only')
            else:
                value = (receiver_address(contacts_list[0]) if contacts_list else None) or ""
                if value and E164.match(value) and not value.startswith("+1"):
                    add(".receiver.contacts[0].identifierValue",
                        f"MMS can only be sent to US/CA numbers (+1), got {value}")
            content = body.get(kind)
            media = content.get("images" if kind == "image" else "files") if isinstance(content, dict) else None
            if isinstance(media, list) and len(media) > 10:
                add(f".body.{kind}", f"at most 10 media per MMS, got {len(media)}")
    scheduled = request.get("scheduledFor")
    if isinstance(scheduled, str):
        try:
            when = parse_rfc3339(scheduled)
        except ValueError as exc:
            add(".scheduledFor", f"{exc} (e.g. 2025-06-01T09:00:00Z)")
        else:
            if when > now_ms + MAX_SCHEDULE_AHEAD_MS:
                add(".scheduledFor", "cannot be more than 35 days in the future")
    if request.get("capFrequency") is True:
        meta = request.get("meta")
        extra = meta.get("extraInformation") if isinstance(meta, dict) else None
        use_case = extra.get("useCase") if isinstance(extra, dict) else None
        if use_case != "marketing":
            add(".capFrequency", 'can only be true when meta.extraInformation.useCase is "marketing"')
    return issues
