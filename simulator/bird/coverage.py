"""Which of Bird's behaviours (behaviours.yaml) occurred: told by its message events, the answers to its API
requests and the outbox's webhook attempts, each after its commit. Every handler here is a few dict lookups: they
run for every status change and every request."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from simulator.bird import lifecycle
from simulator.bird.events import MessageEvent
from simulator.bird.interactions import OPT_OUT_KEYWORDS, keyword_of
from simulator.core.coverage import webhook_behaviours
from simulator.core.events import RequestFailed, WebhookAttempted

if TYPE_CHECKING:
    from collections.abc import Callable

    from simulator.bird.config import BirdWorld
    from simulator.core.coverage import Tally
    from simulator.core.events import EventBus
    from simulator.core.store import Tx

NAME = "bird"
API_ERRORS = {status: f"api_error.{status}" for status in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)}
# A failure's code tells which failure path a message took (lifecycle.FAILURES, batch items' pre-processing).
BY_FAILURE_CODE = {15005: "delivery_failed", 12001: "sending_failed", 12003: "rejected", 14001: "skipped",
                   15003: "expired", 14003: "opted_out", 11001: "batch_item_rejected", 11002: "batch_item_rejected"}
UPLOAD_OPERATION = "upload"
_QUIET = frozenset({"accepted", "processing"})


class BirdCoverage:
    def __init__(self, world: BirdWorld, tally: Tally) -> None:
        self.world = world
        self.tally = tally

    def subscribe(self, events: EventBus) -> None:
        # Inside the publishing transaction, counted once it commits: an after-commit subscriber would make every
        # MessageEvent (one per send and per status change) queue its own publication, which costs more.
        events.on(MessageEvent, self.on_message)
        events.subscribe(RequestFailed, self.on_request)
        events.subscribe(WebhookAttempted, self.on_attempt)

    async def on_message(self, tx: Tx, event: MessageEvent) -> None:
        message = event.message
        if event.name == "sms.outbound" and message.get("status") in _QUIET:
            return  # the statuses every message passes through: nothing to count (most events)
        found: list[str] = []
        self._classify(event, found.append)
        if found:
            tx.after_commit.append(functools.partial(self._count, found, event.channel.workspace_id))

    def _count(self, behaviours: list[str], scope: str) -> None:
        for behaviour in behaviours:
            self.tally(behaviour, scope)

    def _classify(self, event: MessageEvent, tally: Callable[[str], None]) -> None:
        message = event.message
        if event.name == "sms.outbound":
            status = message.get("status")
            if status == "delivered":
                tally("delivered")
                if self._outcome(message) == "slow_dlr":
                    tally("slow_delivery_report")
            elif status == "sent":
                if self._outcome(message) == "no_dlr":
                    tally("no_delivery_report")
            elif status == "scheduled":
                tally("scheduled")
            elif status == "deleted":
                tally("deleted")
            elif status in ("delivery_failed", "sending_failed", "rejected", "skipped"):
                failure = message.get("failure")
                code = failure.get("code") if isinstance(failure, dict) else None
                behaviour = BY_FAILURE_CODE.get(code) if isinstance(code, int) else None
                if behaviour is not None:
                    tally(behaviour)
        elif event.name == "sms.inbound":
            body = message.get("body") or {}
            kind = body.get("type")
            if kind == "text":
                tally("inbound.sms")
                keyword = keyword_of(str((body.get("text") or {}).get("text", "")))
                if keyword:
                    tally("inbound.stop" if keyword in OPT_OUT_KEYWORDS else "inbound.start")
            elif kind in ("image", "file"):
                tally("inbound.mms")
        elif event.name == "sms.interaction" and (event.interaction or {}).get("type") == "clicked":
            tally("click")

    def _outcome(self, message: dict[str, Any]) -> str:
        contacts = (message.get("receiver") or {}).get("contacts") or [{}]
        number = contacts[0].get("identifierValue") if isinstance(contacts[0], dict) else None
        return lifecycle.outcome_for(self.world, number) if isinstance(number, str) else "delivered"

    def on_request(self, event: RequestFailed) -> None:
        if event.provider != NAME or event.status is None or event.status < 400:
            return
        scope = str(event.path_params.get("workspace_id", ""))
        if event.operation == UPLOAD_OPERATION:
            # The upload answers S3's XML errors: its code says which refusal it was.
            if b"<Code>EntityTooLarge</Code>" in event.body:
                self.tally("media.upload_too_large", scope)
            elif b"Policy expired" in event.body:
                self.tally("media.upload_expired", scope)
            return
        behaviour = API_ERRORS.get(event.status)
        if behaviour is not None:
            self.tally(behaviour, scope)

    def on_attempt(self, event: WebhookAttempted) -> None:
        if event.provider == NAME:
            for behaviour in webhook_behaviours(event):
                self.tally(behaviour, event.scope)
