"""What Bird refuses in a send beyond its schema: the rules its API documents that a schema cannot say.
Never sees HTTP."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from simulator.bird.config import Channel
from simulator.bird.errors import InvalidPayload
from simulator.core.clock import parse_rfc3339
from simulator.core.schemas import SchemaStore

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MIME_TYPE = re.compile(r"^[a-zA-Z0-9!#$&^_.+-]+/[a-zA-Z0-9!#$&^_.+-]+$")
MAX_SCHEDULE_AHEAD_MS = 35 * 24 * 3600 * 1000
# The first instant a stored timestamp can be printed as (RFC 3339 has four year digits, from 0001).
FIRST_INSTANT_MS = -62135596800000
# Bird documents no maximum validity; this one keeps expiry times within 64-bit integers.
MAX_VALIDITY_S = 2**31 - 1
MAX_NOTIFICATION_URL = 2048


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
    if isinstance(url, str) and len(url) > MAX_NOTIFICATION_URL:
        rules.setdefault(".notification.url", []).append(f"must be at most {MAX_NOTIFICATION_URL} characters long")
    elif url_problem is not None and isinstance(url, str) and url and (problem := url_problem(url)):
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


def media_issues(body: dict[str, Any], add: Callable[[str, str], None]) -> None:
    """Media Bird has to fetch: over http(s); a file's content type a MIME type (the document asks only for a
    URI and a non-empty string)."""
    for kind, key in (("image", "images"), ("file", "files"), ("text", "attachments")):
        content = body.get(kind) if body.get("type") == kind else None
        items = content.get(key) if isinstance(content, dict) else None
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            url = item.get("mediaUrl")
            if isinstance(url, str) and url and not url.lower().startswith(("http://", "https://")):
                add(f".body.{kind}.{key}[{i}].mediaUrl", "Bird fetches media over http or https")
            mime = item.get("contentType")
            if kind == "file" and isinstance(mime, str) and mime and not MIME_TYPE.match(mime):
                add(f".body.{kind}.{key}[{i}].contentType",
                    f"{json.dumps(mime)[:80]} is not a MIME type (type/subtype)")


def semantic_issues(channel: Channel, request: dict[str, Any], now_ms: int) -> dict[str, list[str]]:
    """The rules Bird enforces that a schema cannot say. Empty when the request is acceptable."""
    issues: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        issues.setdefault(path, []).append(message)

    # Bird declares both nullable: null is the same as leaving it out.
    has_body, has_template = request.get("body") is not None, request.get("template") is not None
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
    elif isinstance(receiver, dict) and (contacts == [] or "contacts" not in receiver):
        add(".receiver.contacts", "SMS messages take exactly one receiver, got none")
    for i, contact in enumerate(contacts_list[:1]):
        value = receiver_address(contact)
        key = contact.get("identifierKey")
        if key is not None and key != "phonenumber":
            add(f".receiver.contacts[{i}].identifierKey", f'SMS receivers are identified by "phonenumber", got "{key}"')
        contact_id = contact.get("id")
        if value is None and contact_id is None:
            add(f".receiver.contacts[{i}]", 'property "identifierValue" (or "platformAddress", a phonenumber in '
                '"identifiers", or a contact "id") is required')
        elif value is None and isinstance(contact_id, str) and not UUID.match(contact_id):
            add(f".receiver.contacts[{i}].id", f"contact {json.dumps(contact_id)[:80]} does not exist")
        elif value is not None and not E164.match(value):
            field = "identifierValue" if "identifierValue" in contact else "platformAddress" \
                if "platformAddress" in contact else "identifiers"
            add(f".receiver.contacts[{i}].{field}",
                f'"{value}" is not an E.164 phone number (expected + followed by 7 to 15 digits)')
    body = request.get("body")
    if isinstance(body, dict):
        kind = body.get("type")
        # The schema has the shape of each type; which types an SMS channel carries is this rule's.
        if kind not in ("text", "image", "file") and isinstance(kind, str):
            add(".body.type", f'body type "{kind}" is not supported on SMS channels (use text, image or file)')
        media_issues(body, add)
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
            where = f".body.{kind}.{'images' if kind == 'image' else 'files'}"
            if isinstance(media, list) and len(media) > 10:
                add(where, f"at most 10 media per MMS, got {len(media)}")
            elif media == []:
                add(where, "an MMS carries at least one medium")
    scheduled = request.get("scheduledFor")
    if isinstance(scheduled, str):
        try:
            when = parse_rfc3339(scheduled)
        except ValueError as exc:
            add(".scheduledFor", f"{exc} (e.g. 2025-06-01T09:00:00Z)")
        else:
            if when > now_ms + MAX_SCHEDULE_AHEAD_MS:
                add(".scheduledFor", "cannot be more than 35 days in the future")
            elif when < FIRST_INSTANT_MS:
                add(".scheduledFor", "is before 0001-01-01T00:00:00Z")
    validity = request.get("validity")
    # A JSON integer past 64 bits is read as a float (orjson), 1e3 too: either is an integer to the schema.
    if isinstance(validity, int | float) and not isinstance(validity, bool) and validity > MAX_VALIDITY_S:
        add(".validity", f"must be at most {MAX_VALIDITY_S} seconds (Bird documents no maximum; the simulator "
            "keeps expiry times within 64-bit integers)")
    if request.get("capFrequency") is True:
        meta = request.get("meta")
        extra = meta.get("extraInformation") if isinstance(meta, dict) else None
        use_case = extra.get("useCase") if isinstance(extra, dict) else None
        if use_case != "marketing":
            add(".capFrequency", 'can only be true when meta.extraInformation.useCase is "marketing"')
    return issues
