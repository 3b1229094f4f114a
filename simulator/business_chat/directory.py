"""Who exists: seeded customers/businesses from the world config plus what the control plane added or changed.

Seeded entries stay in the config (never copied into the db), so a full reset or a restart gives the seeded
world back without a seeding step; the tables only hold run-time additions and overrides.
"""
from __future__ import annotations

import json
from typing import Any

from simulator.business_chat.config import BCConfig, customer_record
from simulator.core.clock import Clock


class Directory:
    def __init__(self, config: BCConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock

    # -- customers ---------------------------------------------------------------------------------------------

    async def customer(self, conn: Any, customer_id: str) -> dict[str, Any] | None:
        row = await conn.fetch_one("SELECT data FROM bc_customers WHERE id=?", (customer_id,))
        if row is not None:
            return json.loads(row[0])  # type: ignore[no-any-return]
        return self.config.customers.get(customer_id)

    async def customer_for(self, conn: Any, business_id: str, customer_id: str) -> dict[str, Any] | None:
        """The customer as seen by one business: a customer bound to another business is unknown here."""
        customer = await self.customer(conn, customer_id)
        if customer is None or (customer["businessId"] and customer["businessId"] != business_id):
            return None
        return customer

    async def all_customers(self, conn: Any) -> list[dict[str, Any]]:
        found = dict(self.config.customers)
        for row in await conn.fetch_all("SELECT data FROM bc_customers ORDER BY created_at, id"):
            customer = json.loads(row[0])
            found[customer["id"]] = customer
        return list(found.values())

    async def create_customer(self, tx: Any, raw: dict[str, Any]) -> dict[str, Any]:
        customer = customer_record(raw)
        await tx.execute(
            "INSERT INTO bc_customers (id, business_id, created_at, data) VALUES (?,?,?,?)"
            " ON CONFLICT(id) DO UPDATE SET business_id=excluded.business_id, data=excluded.data",
            (customer["id"], customer["businessId"], self.clock.now_ms(), json.dumps(customer)))
        return customer

    # -- businesses --------------------------------------------------------------------------------------------

    def known_business(self, business_id: str) -> bool:
        return business_id in self.config.businesses

    async def business_endpoints(self, conn: Any, business_id: str) -> dict[str, str | None]:
        business = self.config.businesses.get(business_id)
        out: dict[str, str | None] = {
            "webhookUrl": business.webhook_url if business else None,
            "paymentGatewayUrl": business.payment_gateway_url if business else None,
        }
        row = await conn.fetch_one(
            "SELECT webhook_url, payment_gateway_url FROM bc_business_settings WHERE business_id=?", (business_id,))
        if row is not None:
            out["webhookUrl"] = row[0] if row[0] is not None else out["webhookUrl"]
            out["paymentGatewayUrl"] = row[1] if row[1] is not None else out["paymentGatewayUrl"]
        return out

    async def set_business_endpoints(self, tx: Any, business_id: str, webhook_url: str | None,
                                     payment_gateway_url: str | None) -> None:
        await tx.execute(
            "INSERT INTO bc_business_settings (business_id, webhook_url, payment_gateway_url) VALUES (?,?,?)"
            " ON CONFLICT(business_id) DO UPDATE SET"
            " webhook_url=COALESCE(excluded.webhook_url, bc_business_settings.webhook_url),"
            " payment_gateway_url=COALESCE(excluded.payment_gateway_url, bc_business_settings.payment_gateway_url)",
            (business_id, webhook_url, payment_gateway_url))

    # -- conversation state ------------------------------------------------------------------------------------

    async def conversation(self, conn: Any, business_id: str, customer_id: str) -> dict[str, int]:
        """``started``: the customer wrote (or closed) at least once — a row exists only then, or once a business
        message reached a customer who counts as having an existing conversation (``existingConversation``)."""
        row = await conn.fetch_one(
            "SELECT closed, received_count FROM bc_conversations WHERE business_id=? AND customer_id=?",
            (business_id, customer_id))
        if row is None:
            return {"closed": 0, "receivedCount": 0, "started": 0}
        return {"closed": int(row[0]), "receivedCount": int(row[1]), "started": 1}

    async def _upsert(self, tx: Any, business_id: str, customer_id: str) -> None:
        await tx.execute(
            "INSERT INTO bc_conversations (business_id, customer_id, updated_at) VALUES (?,?,?)"
            " ON CONFLICT(business_id, customer_id) DO NOTHING", (business_id, customer_id, self.clock.now_ms()))

    async def set_closed(self, tx: Any, business_id: str, customer_id: str, closed: bool) -> None:
        await self._upsert(tx, business_id, customer_id)
        await tx.execute("UPDATE bc_conversations SET closed=?, updated_at=? WHERE business_id=? AND customer_id=?",
                         (int(closed), self.clock.now_ms(), business_id, customer_id))

    async def count_received(self, tx: Any, business_id: str, customer_id: str) -> int:
        """One more business message reached the device; returns the new count (for close_after_messages)."""
        row = await tx.fetch_one(
            "INSERT INTO bc_conversations (business_id, customer_id, updated_at, received_count) VALUES (?,?,?,1)"
            " ON CONFLICT(business_id, customer_id) DO UPDATE SET received_count=bc_conversations.received_count+1,"
            " updated_at=excluded.updated_at RETURNING received_count",
            (business_id, customer_id, self.clock.now_ms()))
        return int(row[0])
