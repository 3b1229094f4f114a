"""Bird contacts: auto-created on first send or inbound message to an identifier, then reused."""
from __future__ import annotations

import json
from typing import Any

from simulator.core.clock import iso_ms
from simulator.core.codec import loads
from simulator.core.ids import Randomness
from simulator.core.store import Store, Tx

TABLE = "bird_contacts"  # the read cache's name for it (see simulator.core.cache)


def new_contact(rand: Randomness, now_ms: int, key: str, value: str, display_name: str = "",
                attributes: dict[str, Any] | None = None, extra_identifiers: list[dict[str, str]] | None = None
                ) -> dict[str, Any]:
    identifiers = [{"key": key, "value": value}] + [
        i for i in (extra_identifiers or []) if (i["key"], i["value"]) != (key, value)
    ]
    attrs: dict[str, Any] = dict(attributes or {})
    for ident in identifiers:
        attr_key = {"phonenumber": "phonenumber", "emailaddress": "emailaddress"}.get(ident["key"], ident["key"])
        attrs.setdefault(attr_key, [])
        if isinstance(attrs[attr_key], list) and ident["value"] not in attrs[attr_key]:
            attrs[attr_key].append(ident["value"])
    if display_name:
        attrs["displayName"] = display_name
    return {
        "id": rand.uuid(),
        "computedDisplayName": display_name or value,
        "featuredIdentifiers": identifiers,
        "identifierCount": len(identifiers),
        "attributes": attrs,
        "createdAt": iso_ms(now_ms),
        "updatedAt": iso_ms(now_ms),
    }


async def find_or_create(tx: Tx, rand: Randomness, workspace_id: str, key: str, value: str, now_ms: int
                         ) -> tuple[dict[str, Any], bool]:
    cache_key = (workspace_id, key, value)

    async def load() -> str | None:
        row = await tx.fetch_one(
            "SELECT data FROM bird_contacts WHERE workspace_id=? AND identifier_key=? AND identifier_value=?",
            cache_key)
        return None if row is None else str(row[0])

    data = await tx.read_through(TABLE, cache_key, load, keep_none=False)
    if data is not None:
        return loads(data), False
    contact = new_contact(rand, now_ms, key, value)
    if await insert(tx, workspace_id, contact, key, value, now_ms, if_absent=True):
        return contact, True
    # A concurrent transaction created it first (PostgreSQL runs them side by side): that one is the contact.
    row = await tx.fetch_one(
        "SELECT data FROM bird_contacts WHERE workspace_id=? AND identifier_key=? AND identifier_value=?", cache_key)
    if row is None:
        raise RuntimeError(f"contact {key}={value} neither inserted nor found")
    tx.remember(TABLE, cache_key, str(row[0]))
    return loads(row[0]), False


_INSERT = ("INSERT INTO bird_contacts (id, workspace_id, identifier_key, identifier_value, created_at, data)"
           " VALUES (?,?,?,?,?,?)")
_INSERT_IF_ABSENT = _INSERT + " ON CONFLICT (workspace_id, identifier_key, identifier_value) DO NOTHING"


async def insert(tx: Tx, workspace_id: str, contact: dict[str, Any], key: str, value: str, now_ms: int, *,
                 if_absent: bool = False) -> bool:
    """Store a contact; ``if_absent``: unless one with this identifier exists (then False, nothing written)."""
    data = json.dumps(contact, separators=(",", ":"))
    written = await tx.execute(_INSERT_IF_ABSENT if if_absent else _INSERT,
                               (contact["id"], workspace_id, key, value, now_ms, data))
    if written == 0:
        return False
    tx.remember(TABLE, (workspace_id, key, value), data)
    return True


async def get(store: Store, workspace_id: str, contact_id: str) -> dict[str, Any] | None:
    row = await store.fetch_one("SELECT data FROM bird_contacts WHERE workspace_id=? AND id=?",
                                (workspace_id, contact_id))
    return None if row is None else json.loads(row[0])


async def get_by_id(tx: Tx, workspace_id: str, contact_id: str) -> dict[str, Any] | None:
    row = await tx.fetch_one("SELECT data FROM bird_contacts WHERE workspace_id=? AND id=?",
                             (workspace_id, contact_id))
    return None if row is None else json.loads(row[0])


SERVICE_WINDOW_MS = 24 * 3_600_000  # WhatsApp's customer service window, which Bird's endpoint reports


async def service_window(store: Store, channel_id: str, contact_id: str, identifier_value: str, now_ms: int
                         ) -> dict[str, Any]:
    """Bird's channel details for a contact: the service window opened by the contact's last message on the
    channel (from ``identifier_value`` if given) closes 24 hours later; ``None`` when none is open."""
    sql = ("SELECT MAX(created_at) FROM bird_messages WHERE contact_id=? AND channel_id=? AND direction='incoming'")
    params: list[Any] = [contact_id, channel_id]
    if identifier_value:
        sql += " AND sender=?"
        params.append(identifier_value)
    row = await store.fetch_one(sql, params)
    last = row[0] if row else None
    expires = last + SERVICE_WINDOW_MS if last is not None else None
    return {"serviceWindowExpireAt": iso_ms(expires) if expires is not None and expires > now_ms else None,
            "isPermanentSession": False}
