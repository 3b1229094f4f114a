"""Bird messages in the store: insert, update, read and list them. No rules here: the send lives in service.py,
statuses in lifecycle.py. Never sees HTTP."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from simulator.bird.errors import InvalidPayload, NotFound
from simulator.core.codec import loads
from simulator.core.scheduler import Job, RefQuery
from simulator.core.store import Store, Tx


@dataclass(frozen=True)
class Row:
    """The columns a message is found by, beside its JSON (``data``)."""

    id: str
    workspace_id: str
    channel_id: str
    direction: str
    status: str
    created_at: int
    batch_id: str | None
    sender: str
    recipient: str
    contact_id: str
    reference: str
    tags: list[str]


@dataclass
class ListQuery:
    workspace_id: str
    channel_id: str | None = None
    limit: int = 10
    page_token: str | None = None
    reverse: bool = False
    direction: str | None = None
    statuses: list[str] = field(default_factory=list)
    start_ms: int | None = None
    end_ms: int | None = None
    sender: str | None = None
    recipient: str | None = None
    phonenumber: str | None = None
    tag: str | None = None
    batch_id: str | None = None
    contact_id: str | None = None
    reference: str | None = None


class Messages:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def insert(self, tx: Tx, row: Row, data: str) -> int:
        """Store a message (``data``: its JSON); returns its row id (seq), which jobs and the timeline keep."""
        return await tx.insert(
            "INSERT INTO bird_messages (id, workspace_id, channel_id, direction, status, created_at, batch_id, sender,"
            " recipient, contact_id, reference, tags, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (row.id, row.workspace_id, row.channel_id, row.direction, row.status, row.created_at, row.batch_id,
             row.sender, row.recipient, row.contact_id, row.reference,
             "," + ",".join(row.tags) + "," if row.tags else "", data))

    async def for_jobs(self, jobs: list[Job]) -> dict[str, tuple[dict[str, Any], str, int]]:
        """message id -> (message, channel id, seq) of the jobs' messages (those that still exist).

        Jobs carry their message's rowid (seq) once known: a rowid lookup skips the id index, a random walk through
        a million UUIDs at scale. Jobs written without it (older dbs, forced outcomes) are looked up by id."""
        seqs = [j.payload["seq"] for j in jobs if isinstance(j.payload.get("seq"), int)]
        ids = [j.ref for j in jobs if not isinstance(j.payload.get("seq"), int)]
        rows = []
        columns = "SELECT id, data, channel_id, seq FROM bird_messages WHERE"
        if seqs:
            rows += await self.store.fetch_all(f"{columns} seq IN ({','.join('?' * len(seqs))})", seqs)
        if ids:
            rows += await self.store.fetch_all(f"{columns} id IN ({','.join('?' * len(ids))})", ids)
        return {r[0]: (loads(r[1]), r[2], r[3]) for r in rows}

    async def update_statuses(self, tx: Tx, updates: list[tuple[str, str, int]]) -> None:
        """Rows of (status, JSON, seq); by rowid: the id index was already walked once to find them."""
        if updates:
            await tx.executemany("UPDATE bird_messages SET status=?, data=? WHERE seq=?", updates)

    async def seq_of(self, tx: Tx, message_id: str) -> int:
        row = await tx.fetch_one("SELECT seq FROM bird_messages WHERE id=?", (message_id,))
        return int(row[0]) if row is not None else 0

    async def last_outgoing(self, tx: Tx, channel_id: str, recipient: str) -> dict[str, Any] | None:
        """The latest message the channel sent to ``recipient``."""
        row = await tx.fetch_one(
            "SELECT data FROM bird_messages WHERE channel_id=? AND direction='outgoing' AND recipient=?"
            " ORDER BY created_at DESC, seq DESC LIMIT 1", (channel_id, recipient))
        return loads(row[0]) if row is not None else None

    async def with_workspace(self, message_id: str) -> tuple[dict[str, Any], str, int] | None:
        """(message, workspace id, seq), for the control plane (which has no access key to scope by)."""
        row = await self.store.fetch_one("SELECT data, workspace_id, seq FROM bird_messages WHERE id=?",
                                         (message_id,))
        return (loads(row[0]), row[1], row[2]) if row is not None else None

    async def everywhere(self, columns: dict[str, str], phonenumber: str | None, limit: int
                         ) -> list[tuple[dict[str, Any], str, int]]:
        """(message, workspace id, seq) of any workspace, newest first; ``columns``: workspace_id, channel_id,
        direction or status -> the value it must have; ``phonenumber``: the sender or the recipient."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in columns.items():
            if column not in ("workspace_id", "channel_id", "direction", "status"):
                raise ValueError(column)
            where.append(f"{column} = ?")
            params.append(value)
        if phonenumber:
            where.append("(recipient = ? OR sender = ?)")
            params += [phonenumber, phonenumber]
        sql = "SELECT data, workspace_id, seq FROM bird_messages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.store.fetch_all(sql + " ORDER BY created_at DESC, seq DESC LIMIT ?", [*params, limit])
        return [(loads(r[0]), r[1], r[2]) for r in rows]

    def ids_in(self, column: str, value: str) -> RefQuery:
        """The ids of the messages of one workspace or channel (``column``: workspace_id | channel_id)."""
        if column not in ("workspace_id", "channel_id"):
            raise ValueError(column)
        return RefQuery(f"SELECT id FROM bird_messages WHERE {column}=?", (value,))  # noqa: S608

    async def get(self, workspace_id: str, channel_id: str | None, message_id: str) -> dict[str, Any]:
        sql = "SELECT data FROM bird_messages WHERE id=? AND workspace_id=?"
        params: list[Any] = [message_id, workspace_id]
        if channel_id is not None:
            sql += " AND channel_id=?"
            params.append(channel_id)
        row = await self.store.fetch_one(sql, params)
        if row is None:
            raise NotFound(f"message {message_id} not found")
        message: dict[str, Any] = loads(row[0])
        return message

    async def get_any(self, message_id: str) -> dict[str, Any]:
        row = await self.store.fetch_one("SELECT data FROM bird_messages WHERE id=?", (message_id,))
        if row is None:
            raise NotFound(f"message {message_id} not found")
        message: dict[str, Any] = loads(row[0])
        return message

    async def list(self, q: ListQuery) -> dict[str, Any]:
        where = ["workspace_id = ?"]
        params: list[Any] = [q.workspace_id]
        if q.channel_id:
            where.append("channel_id = ?")
            params.append(q.channel_id)
        if q.statuses:
            where.append(f"status IN ({','.join('?' * len(q.statuses))})")
            params += q.statuses
        if q.direction:
            where.append("direction = ?")
            params.append(q.direction)
        if q.start_ms is not None:
            where.append("created_at >= ?")
            params.append(q.start_ms)
        if q.end_ms is not None:
            where.append("created_at <= ?")
            params.append(q.end_ms)
        if q.sender:
            where.append("sender = ?")
            params.append(q.sender)
        if q.recipient:
            where.append("recipient = ?")
            params.append(q.recipient)
        if q.phonenumber:
            where.append("(recipient = ? OR sender = ?)")
            params += [q.phonenumber, q.phonenumber]
        if q.tag:
            where.append("tags LIKE ?")
            params.append(f"%,{q.tag.lower()},%")
        if q.batch_id:
            where.append("batch_id = ?")
            params.append(q.batch_id)
        if q.contact_id:
            where.append("contact_id = ?")
            params.append(q.contact_id)
        if q.reference is not None:
            where.append("reference = ?")
            params.append(q.reference)
        if q.page_token:
            created, seq = decode_token(q.page_token)
            where.append("(created_at, seq) > (?, ?)" if q.reverse else "(created_at, seq) < (?, ?)")
            params += [created, seq]
        order = "ASC" if q.reverse else "DESC"
        rows = await self.store.fetch_all(
            f"SELECT data, created_at, seq FROM bird_messages WHERE {' AND '.join(where)}"  # noqa: S608 - fixed column names, placeholders
            f" ORDER BY created_at {order}, seq {order} LIMIT ?",
            [*params, q.limit + 1],
        )
        page = rows[: q.limit]
        result: dict[str, Any] = {"results": [loads(r[0]) for r in page]}
        if len(rows) > q.limit:
            last = page[-1]
            result["nextPageToken"] = encode_token(last[1], last[2])
        else:
            result["nextPageToken"] = ""
        return result

    async def interactions(self, workspace_id: str, channel_id: str, message_id: str) -> dict[str, Any]:
        await self.get(workspace_id, channel_id, message_id)
        rows = await self.store.fetch_all(
            "SELECT data FROM bird_interactions WHERE message_id=? ORDER BY seq", (message_id,))
        return {"results": [loads(r[0]) for r in rows]}


def encode_token(created_at: int, seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, seq]).encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, int]:
    try:
        padded = token + "=" * (-len(token) % 4)
        created, seq = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not all(isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**63 for v in (created, seq)):
            raise ValueError  # SQLite compares 64-bit integers only
        return created, seq
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise InvalidPayload.one("pageToken", "is not a page token this API issued; pass nextPageToken unchanged"
                                 ) from None
