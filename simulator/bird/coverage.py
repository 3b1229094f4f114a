"""Which of Bird's behaviours (behaviours.yaml) occurred: told by its message events, the answers to its API
requests and the outbox's webhook attempts, each after its commit. Every handler here is a few dict lookups: they
run for every status change and every request."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.bird import lifecycle
from simulator.bird.events import MessageEvent
from simulator.bird.interactions import OPT_OUT_KEYWORDS, keyword_of
from simulator.core.coverage import webhook_behaviours
from simulator.core.events import RequestAnswered, WebhookAttempted

if TYPE_CHECKING:
    from simulator.bird.config import BirdWorld
    from simulator.core.coverage import Tally
    from simulator.core.events import EventBus

NAME = "bird"
API_ERRORS = {status: f"api_error.{status}" for status in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)}
# A failure's code tells which failure path a message took (lifecycle.FAILURES, batch items' pre-processing).
BY_FAILURE_CODE = {15005: "delivery_failed", 12001: "sending_failed", 12003: "rejected", 14001: "skipped",
                   15003: "expired", 14003: "opted_out", 11001: "batch_item_rejected", 11002: "batch_item_rejected"}
UPLOAD_OPERATION = "upload"


class BirdCoverage:
    def __init__(self, world: BirdWorld, tally: Tally) -> None:
        self.world = world
        self.tally = tally

    def subscribe(self, events: EventBus) -> None:
        events.subscribe(MessageEvent, self.on_message)
        events.subscribe(RequestAnswered, self.on_request)
        events.subscribe(WebhookAttempted, self.on_attempt)

    def on_message(self, event: MessageEvent) -> None:
        message = event.message
        scope = event.channel.workspace_id
        if event.name == "sms.outbound":
            status = message.get("status")
            if status == "delivered":
                self.tally("delivered", scope)
                if self._outcome(message) == "slow_dlr":
                    self.tally("slow_delivery_report", scope)
            elif status == "sent":
                if self._outcome(message) == "no_dlr":
                    self.tally("no_delivery_report", scope)
            elif status == "scheduled":
                self.tally("scheduled", scope)
            elif status == "deleted":
                self.tally("deleted", scope)
            elif status in ("delivery_failed", "sending_failed", "rejected", "skipped"):
                failure = message.get("failure")
                code = failure.get("code") if isinstance(failure, dict) else None
                behaviour = BY_FAILURE_CODE.get(code) if isinstance(code, int) else None
                if behaviour is not None:
                    self.tally(behaviour, scope)
        elif event.name == "sms.inbound":
            body = message.get("body") or {}
            kind = body.get("type")
            if kind == "text":
                self.tally("inbound.sms", scope)
                keyword = keyword_of(str((body.get("text") or {}).get("text", "")))
                if keyword:
                    self.tally("inbound.stop" if keyword in OPT_OUT_KEYWORDS else "inbound.start", scope)
            elif kind in ("image", "file"):
                self.tally("inbound.mms", scope)
        elif event.name == "sms.interaction" and (event.interaction or {}).get("type") == "clicked":
            self.tally("click", scope)

    def _outcome(self, message: dict[str, Any]) -> str:
        contacts = (message.get("receiver") or {}).get("contacts") or [{}]
        number = contacts[0].get("identifierValue") if isinstance(contacts[0], dict) else None
        return lifecycle.outcome_for(self.world, number) if isinstance(number, str) else "delivered"

    def on_request(self, event: RequestAnswered) -> None:
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
