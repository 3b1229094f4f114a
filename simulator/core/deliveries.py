"""Reading and removing the outbox's webhook deliveries: what providers, the control plane and the journal ask of
it (delivery logs, the outbox listing, a scoped reset) without knowing its tables."""
from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.core.compression import gunzip
from simulator.core.retention import DAY_S, Dependent, RetentionKind
from simulator.core.store import Row, Store, Tx

DELIVERY_JOB = "outbox.deliver"
# What a delivery's gzip body may inflate to when shown (its bodies are the simulator's own, far smaller).
VIEW_LIMIT = 64 * 1024 * 1024
_COLUMNS = ("id, provider, scope, event, ordering_key, subscription_id, request_id, url, headers, body, created_at,"
            " next_attempt_at, attempts, status, last_status, last_error")
STATUSES = ("pending", "delivered", "failed", "cancelled")
# Delivered, failed and cancelled deliveries with their attempt log; Bird keeps webhook logs 7 days. A pending one
# stays however old it is (its retries end within hours).
RETENTION = RetentionKind(
    "outbox", "outbox", "created_at", 7 * DAY_S, where="status <> 'pending'",
    dependents=(Dependent("outbox_attempts", "outbox_id", "id"),),
    summary="finished webhook deliveries and their attempts (by creation)")


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    at_ms: int
    status_code: int | None
    error: str
    duration_ms: float
    response_body: str


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One webhook as the outbox holds it: the request (sent as stored on every attempt) and its state."""

    id: int
    provider: str
    scope: str
    event: str
    ordering_key: str
    subscription_id: str
    request_id: str
    url: str
    headers: dict[str, str]
    body: bytes
    created_at: int
    next_attempt_at: int | None
    attempts: int
    status: str
    last_status: int | None
    last_error: str
    attempt_log: list[Attempt] = field(default_factory=list)

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name), "")

    def decoded_body(self) -> bytes:
        """The body as the receiver reads it (gunzipped when sent with Content-Encoding: gzip)."""
        if self.header("content-encoding").lower() == "gzip" or self.body[:2] == b"\x1f\x8b":
            try:
                return gunzip(self.body, VIEW_LIMIT)
            except (OSError, EOFError, ValueError, zlib.error):  # not gzip after all, or too large to show
                return self.body
        return self.body


def _record(row: Row) -> DeliveryRecord:
    return DeliveryRecord(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], json.loads(row[8]),
                          bytes(row[9]), int(row[10]), row[11], int(row[12]), row[13], row[14], row[15])


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries to list; every field given must hold. ``attempted``: at least one attempt made or none."""

    provider: str | None = None
    subscription_id: str | None = None
    request_id: str | None = None
    status: str | None = None
    event: str | None = None
    attempted: bool | None = None
    before_id: int | None = None


class Deliveries:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def fetch(self, ids: Sequence[int]) -> list[DeliveryRecord]:
        """The deliveries with these ids (those that still exist), without their attempts."""
        if not ids:
            return []
        rows = await self.store.fetch_all(
            f"SELECT {_COLUMNS} FROM outbox WHERE id IN ({','.join('?' * len(ids))})", list(ids))  # noqa: S608
        return [_record(r) for r in rows]

    async def find(self, where: DeliveryFilter, limit: int, *, with_attempts: bool = False) -> list[DeliveryRecord]:
        """Newest first."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("provider", where.provider), ("subscription_id", where.subscription_id),
                              ("request_id", where.request_id), ("status", where.status), ("event", where.event)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if where.attempted is not None:
            clauses.append("attempts > 0" if where.attempted else "attempts = 0")
        if where.before_id is not None:
            clauses.append("id < ?")
            params.append(where.before_id)
        sql = f"SELECT {_COLUMNS} FROM outbox"  # noqa: S608 - fixed column names
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        rows = await self.store.fetch_all(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        records = [_record(r) for r in rows]
        if with_attempts and records:
            log = await self.attempts([r.id for r in records])
            records = [dataclasses.replace(r, attempt_log=log.get(r.id, [])) for r in records]
        return records

    async def attempts(self, ids: Sequence[int]) -> dict[int, list[Attempt]]:
        """Each delivery's attempts, oldest first."""
        out: dict[int, list[Attempt]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            rows = await self.store.fetch_all(
                "SELECT outbox_id, attempt, at, status_code, error, duration_ms, response_body FROM outbox_attempts"  # noqa: S608 - placeholders only
                f" WHERE outbox_id IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk)
            for r in rows:
                out.setdefault(int(r[0]), []).append(Attempt(int(r[1]), int(r[2]), r[3], r[4], float(r[5]),
                                                             r[6] or ""))
        return out

    async def stats(self) -> dict[str, int]:
        rows = await self.store.fetch_all("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        out = dict.fromkeys(STATUSES, 0)
        out.update({r[0]: int(r[1]) for r in rows})
        return out

    async def delete(self, tx: Tx, provider: str, *, scope: str | None = None, ordering_key: str | None = None
                     ) -> None:
        """Remove a provider's deliveries of one scope or one ordering key: the rows, their attempt log and the
        jobs that would deliver them (a scoped reset)."""
        column, value = ("scope", scope) if scope is not None else ("ordering_key", ordering_key)
        if value is None:
            raise ValueError("delete() needs a scope or an ordering key")
        rows = f"SELECT id FROM outbox WHERE provider = ? AND {column} = ?"  # noqa: S608 - fixed column names
        await tx.execute(f"DELETE FROM jobs WHERE kind = ? AND ref IN (SELECT CAST(id AS TEXT) FROM outbox WHERE"  # noqa: S608 - fixed column names
                         f" provider = ? AND {column} = ?)", (DELIVERY_JOB, provider, value))
        await tx.execute(f"DELETE FROM outbox_attempts WHERE outbox_id IN ({rows})", (provider, value))  # noqa: S608
        await tx.execute(f"DELETE FROM outbox WHERE provider = ? AND {column} = ?", (provider, value))  # noqa: S608

