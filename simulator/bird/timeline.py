"""Each Bird message's status timeline: one row per message event, written in the transaction that changed the
message, so every transition keeps its own clock time. GET /_sim/bird/messages shows it."""
from __future__ import annotations

import json
from typing import Any

from simulator.bird.events import MessageEvent
from simulator.bird.messages import Messages
from simulator.core.clock import iso_ms
from simulator.core.store import Store, Tx

_INSERT = ("INSERT INTO bird_status_history (message_id, message_seq, workspace_id, channel_id, event, status, at,"
           " details) VALUES (?,?,?,?,?,?,?,?)")


class Timeline:
    def __init__(self, store: Store, messages: Messages) -> None:
        self.store = store
        self.messages = messages

    async def on_message(self, tx: Tx, event: MessageEvent) -> None:
        """Bus subscriber: the event's row, written with the transaction's next statement (``Tx.defer``)."""
        message = event.message
        message_id = message.get("id", "")
        failure = message.get("failure")
        details = json.dumps({"reason": message.get("reason", ""), "failure": failure},
                             separators=(",", ":")) if failure or message.get("reason") else ""
        seq = event.seq if event.seq is not None else await self.messages.seq_of(tx, message_id)
        channel = event.channel
        tx.defer(_INSERT, (message_id, seq, channel.workspace_id, channel.id, event.name, message.get("status", ""),
                           event.at_ms, details))

    async def of(self, keys: list[tuple[int, str]]) -> dict[str, list[dict[str, Any]]]:
        """Timelines of messages given as (seq, id): the history index is keyed by the message's rowid."""
        out: dict[str, list[dict[str, Any]]] = {i: [] for _, i in keys}
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            rows = await self.store.fetch_all(
                f"SELECT message_id, event, status, at, details FROM bird_status_history"  # noqa: S608
                f" WHERE message_seq IN ({','.join('?' * len(chunk))}) ORDER BY id", [seq for seq, _ in chunk])
            for row in rows:
                timeline = out.get(row[0])
                if timeline is None:
                    continue  # a row of a message deleted since (ids are not reused, seqs neither): not one asked for
                if timeline and timeline[-1]["status"] == row[2]:
                    continue  # the same status again (an interaction, a duplicate event): one step in the timeline
                step: dict[str, Any] = {"status": row[2], "at": iso_ms(row[3]), "atMs": row[3], "event": row[1]}
                if row[4]:
                    step.update(json.loads(row[4]))
                timeline.append(step)
        return out

    async def reset_scope(self, tx: Tx, column: str, value: str) -> None:
        """Delete a workspace's or channel's rows, through its messages (the timeline has no scope index: see
        migration 0012): call before the messages themselves go."""
        await tx.execute("DELETE FROM bird_status_history WHERE message_seq IN"  # noqa: S608
                         f" (SELECT seq FROM bird_messages WHERE {column}=?)", (value,))
