"""What simulated customers' phones do: write to a channel (inbound SMS/MMS), opt out or in by keyword, reply by script.

* Inbound messages are stored like any other (``direction: incoming``, ``status: delivered``, the sender
  contact auto-created, ``receiver.connector`` = the channel) and emit ``sms.inbound``.
* STOP/STOPALL/UNSUBSCRIBE/CANCEL/END/QUIT and START/UNSTOP/YES create ``unsubscribe-request`` /
  ``subscribe-consent`` interactions on the last outgoing message to that number on that channel, and switch
  the opt-out for (channel, number). While opted out, sends to the number from that channel end ``skipped``
  with failure ``opted_out`` (config ``bird.opt_out_behaviour: rejected`` makes them ``rejected``).
* Auto-replies (config ``bird.auto_replies``): when an outgoing message is delivered and a rule matches, the
  receiver answers after ``delay_seconds`` on the simulator's clock (job kind ``bird.auto_reply``).
"""
from __future__ import annotations

import fnmatch
import json
from typing import TYPE_CHECKING, Any

from simulator.bird import contacts
from simulator.bird.config import BirdWorld, Channel
from simulator.bird.encoding import segment_count
from simulator.bird.events import MessageEvent
from simulator.bird.interactions import OPT_OUT_KEYWORDS, Interactions, keyword_of
from simulator.bird.lifecycle import Status, Verdict
from simulator.bird.messages import Messages, Row
from simulator.core import scheduler as sched
from simulator.core.clock import iso_ms, parse_rfc3339
from simulator.core.scheduler import Job
from simulator.core.store import Tx

if TYPE_CHECKING:
    from simulator.bird.media import Media
    from simulator.core.simulation import Simulation

AUTO_REPLY_JOB = "bird.auto_reply"
DEFAULT_REPLY_DELAY_S = 1.0


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def inbound_body(text: str, media: list[dict[str, str]]) -> dict[str, Any]:
    if not media:
        return {"type": "text", "text": {"text": text}}
    if all(m["contentType"].startswith("image/") for m in media):
        body: dict[str, Any] = {"type": "image", "image": {"images": [{"mediaUrl": m["mediaUrl"]} for m in media]}}
        if text:
            body["image"]["text"] = text
        return body
    files = [{"mediaUrl": m["mediaUrl"], "contentType": m["contentType"], **({"filename": m["filename"]}
                                                                            if m.get("filename") else {})}
             for m in media]
    body = {"type": "file", "file": {"files": files}}
    if text:
        body["file"]["text"] = text
    return body


class Customers:
    def __init__(self, sim: Simulation, world: BirdWorld, messages: Messages, media: Media,
                 interactions: Interactions) -> None:
        self.sim = sim
        self.world = world
        self.messages = messages
        self.media = media
        self.interactions = interactions

    # -- receiving --------------------------------------------------------------------------------------------

    async def receive(self, channel: Channel, sender: str, text: str,
                      media: list[tuple[str, bytes, str]] | None = None) -> dict[str, Any]:
        """Control plane: ``sender`` writes ``text`` (and media as (contentType, bytes, filename)) to ``channel``."""
        async with self.sim.store.transaction() as tx:
            return await self.receive_in(tx, channel, sender, text, media or [], self.sim.clock.now_ms())

    async def receive_in(self, tx: Tx, channel: Channel, sender: str, text: str,
                         media: list[tuple[str, bytes, str]], now: int, reply_to: str | None = None) -> dict[str, Any]:
        rand = self.sim.random
        contact, _ = await contacts.find_or_create(tx, rand, channel.workspace_id, "phonenumber", sender, now)
        message_id = rand.uuid()
        stored: list[dict[str, str]] = []
        for content_type, data, filename in media:
            media_id = await self.media.store_bytes(tx, channel.workspace_id, channel.id, message_id, content_type,
                                                    data, filename)
            stored.append({"contentType": content_type, "filename": filename,
                           "mediaUrl": self.media.media_url(channel.workspace_id, channel.id, media_id, message_id)})
        units = segment_count(text) if text else 1
        stamp = iso_ms(now)
        message: dict[str, Any] = {
            "id": message_id,
            "channelId": channel.id,
            "sender": {"contact": {"id": contact["id"], "identifierKey": "phonenumber", "identifierValue": sender}},
            "receiver": {"connector": {"id": channel.connector_id, "identifierValue": channel.number}},
            "body": inbound_body(text, stored),
            "reference": "",
            "meta": {},
            "parts": [{"platformReference": rand.hex(16)} for _ in range(units)],
            "status": Status.DELIVERED.value,
            "reason": "",
            "details": "",
            "direction": "incoming",
            "origin": None,
            "failure": None,
            "tags": [],
            "batchId": None,
            "chargeableUnits": units,
            "lastStatusAt": stamp,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        if reply_to:
            message["replyTo"] = {"id": reply_to, "type": "message", "order": 0}
        seq = await self.messages.insert(tx, Row(message_id, channel.workspace_id, channel.id, "incoming",
                                                 Status.DELIVERED, now, None, sender, channel.number, contact["id"],
                                                 "", []), _dumps(message))
        await self.sim.events.emit(tx, MessageEvent("sms.inbound", message, channel, now, seq))
        keyword = keyword_of(text) if text and not media else None
        if keyword:
            await self._keyword(tx, channel, sender, keyword, now)
        return message

    async def _keyword(self, tx: Tx, channel: Channel, sender: str, keyword: str, now: int) -> None:
        opted_out = keyword in OPT_OUT_KEYWORDS
        tx.forget("bird_opt_outs")
        await tx.execute(
            "INSERT INTO bird_opt_outs (channel_id, identifier, workspace_id, opted_out, keyword, updated_at)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT(channel_id, identifier) DO UPDATE SET opted_out=excluded.opted_out,"
            " keyword=excluded.keyword, updated_at=excluded.updated_at",
            (channel.id, sender, channel.workspace_id, int(opted_out), keyword, now))
        last = await self.messages.last_outgoing(tx, channel.id, sender)
        if last is None:
            return
        kind = "unsubscribe-request" if opted_out else "subscribe-consent"
        await self.interactions.create(tx, last, kind, at_ms=now, details=f"keyword: {keyword}",
                                       metadata={"keyword": keyword, "source": "keyword"})

    # -- opt-outs ---------------------------------------------------------------------------------------------

    async def opt_out_verdict(self, tx: Tx, channel: Channel, contact: dict[str, Any]) -> Verdict | None:
        """What a send to ``contact`` gets because of an opt-out: ``skipped`` (or ``rejected``, config
        ``bird.opt_out_behaviour``) with failure ``opted_out``; None when the number has not opted out."""
        number = contact.get("identifierValue")
        if not number:
            return None

        async def load() -> bool:
            row = await tx.fetch_one("SELECT opted_out FROM bird_opt_outs WHERE channel_id=? AND identifier=?",
                                     (channel.id, number))
            return bool(row is not None and row[0])

        if not await tx.read_through("bird_opt_outs", (channel.id, number), load):
            return None
        return Verdict(Status(self.world.opt_out_behaviour), "opted_out")

    async def opt_outs(self, workspace_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT channel_id, identifier, opted_out, keyword, updated_at FROM bird_opt_outs"
        rows = await self.sim.store.fetch_all(sql + (" WHERE workspace_id=?" if workspace_id else "") +
                                              " ORDER BY updated_at", (workspace_id,) if workspace_id else ())
        return [{"channelId": r[0], "identifierValue": r[1], "optedOut": bool(r[2]), "keyword": r[3],
                 "updatedAt": iso_ms(r[4])} for r in rows]

    # -- auto-replies -----------------------------------------------------------------------------------------

    def _rule_for(self, message: dict[str, Any]) -> dict[str, Any] | None:
        contacts_list = (message.get("receiver") or {}).get("contacts") or []
        number = contacts_list[0].get("identifierValue", "") if contacts_list else ""
        body = message.get("body") or {}
        content = body.get(body.get("type")) if isinstance(body.get("type"), str) else None
        text = content.get("text", "") if isinstance(content, dict) and isinstance(content.get("text"), str) else ""
        first_word = (text.split() or [""])[0].strip(".,!?:;").lower()
        for rule in self.world.auto_replies:
            match = rule.get("match") or {}
            if "receiver" in match and not fnmatch.fnmatchcase(number, match["receiver"]):
                continue
            if "keyword" in match and first_word != match["keyword"].strip().lower():
                continue
            if "channel_id" in match and match["channel_id"] != message.get("channelId"):
                continue
            return rule
        return None

    async def on_message(self, tx: Tx, event: MessageEvent) -> None:
        """Bus subscriber: a delivered outgoing message may trigger a scripted reply from its receiver."""
        message = event.message
        if not self.world.auto_replies or event.name != "sms.outbound" or message.get("status") != "delivered":
            return
        rule = self._rule_for(message)
        if rule is None:
            return
        channel = event.channel
        number = message["receiver"]["contacts"][0]["identifierValue"]
        delay = float(rule.get("delay_seconds", DEFAULT_REPLY_DELAY_S))
        at = parse_rfc3339(message["lastStatusAt"])
        await sched.schedule(tx, AUTO_REPLY_JOB, at + int(delay * 1000), message["id"],
                             {"channel": channel.id, "from": number, "reply": rule.get("reply")},
                             scope=channel.workspace_id)
        tx.after_commit.append(self.sim.scheduler.wake)

    async def run_auto_replies(self, jobs: list[Job]) -> None:
        async with self.sim.store.transaction() as tx:
            await sched.done(tx, jobs)
            for job in jobs:
                channel = self.world.channel(job.payload.get("channel", ""))
                if channel is None:
                    continue
                text = job.payload.get("reply") or self.sim.random.faker.sentence()
                await self.receive_in(tx, channel, job.payload["from"], text, [], job.due_at, reply_to=job.ref)
