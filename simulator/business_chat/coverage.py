"""Which of Business Chat's behaviours (behaviours.yaml) occurred: told by what reaches and leaves the customers'
devices (DeviceMessage, after its commit), the answers to gateway requests and the outbox's webhook attempts."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from simulator.business_chat.events import DeviceMessage
from simulator.core.coverage import webhook_behaviours
from simulator.core.events import RequestFailed, WebhookAttempted

if TYPE_CHECKING:
    from collections.abc import Callable

    from simulator.core.coverage import Tally
    from simulator.core.events import EventBus
    from simulator.core.store import Tx

NAME = "business_chat"
# interactive feature (validation.FEATURES, "customApp") -> behaviour when the business sends it / the customer answers
SENT = {"listPicker": "send.list_picker", "event": "send.time_picker", "quick-reply": "send.quick_reply",
        "authenticate": "send.authentication", "payment": "send.apple_pay", "dynamic": "send.form",
        "customApp": "send.custom_app"}
ANSWERED = {"listPicker": "answer.list_picker", "event": "answer.time_picker", "quick-reply": "answer.quick_reply",
            "dynamic": "answer.form", "customApp": "answer.custom_app"}
# Refusals told apart by their error code, then by status.
BY_CODE = {b'"code":"ConversationClosed"': "conversation_closed",
           b'"code":"ConversationNotStarted"': "conversation_not_started"}
BY_STATUS = {400: "api_error.400", 401: "api_error.401", 403: "jwt_rejected", 503: "api_error.503"}


class BusinessChatCoverage:
    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def subscribe(self, events: EventBus) -> None:
        events.on(DeviceMessage, self.on_device)  # counted once its transaction commits (see Bird's)
        events.subscribe(RequestFailed, self.on_request)
        events.subscribe(WebhookAttempted, self.on_attempt)

    async def on_device(self, tx: Tx, event: DeviceMessage) -> None:
        found: list[str] = []
        kind = event.body.get("type")
        if event.direction == "received":
            self._received(event, kind, found.append)
        else:
            self._sent(event, kind, found.append)
        if found:
            tx.after_commit.append(functools.partial(self._count, found, event.business_id))

    def _count(self, behaviours: list[str], scope: str) -> None:
        for behaviour in behaviours:
            self.tally(behaviour, scope)

    def _received(self, event: DeviceMessage, kind: Any, tally: Callable[[str], None]) -> None:
        """The business's message reached the device."""
        if kind == "text":
            tally("send.attachment" if event.body.get("attachments") else "send.text")
        elif kind == "richLink":
            tally("send.rich_link")
        elif kind in ("typing_start", "typing_end"):
            tally("send.typing")
        elif kind == "interactive":
            behaviour = SENT.get(event.feature)
            if behaviour is not None:
                tally(behaviour)
            if event.by_reference:
                tally("send.by_reference")

    def _sent(self, event: DeviceMessage, kind: Any, tally: Callable[[str], None]) -> None:
        """The customer's device sent something to the business."""
        if event.reopened:
            tally("customer.reopen")
        if kind == "text":
            if event.view.get("tapback"):
                tally("customer.tapback")
            elif event.body.get("attachments"):
                tally("customer.attachment")
            else:
                tally("customer.text")
        elif kind == "typing_start":
            tally("customer.typing")
        elif kind == "close":
            tally("customer.close")
        elif kind == "interactive":
            self._answer(event, tally)

    def _answer(self, event: DeviceMessage, tally: Callable[[str], None]) -> None:
        shown = event.view.get("interactive") or {}
        reply = shown.get("reply") if isinstance(shown, dict) else None
        data = reply.get("data") if isinstance(reply, dict) else None
        data = data if isinstance(data, dict) else {}
        feature = event.feature
        if event.by_reference:
            tally("answer.by_reference")
        if feature == "authenticate":
            status = (data.get("authenticate") or {}).get("status")
            tally("auth.success" if status == "authenticated" else "auth.failure")
        elif feature == "payment":
            status = (data.get("payment") or {}).get("status")
            tally("apple_pay.approved" if status == "success" else "apple_pay.failed")
        elif feature == "listPicker":
            sections = (data.get("listPicker") or {}).get("sections") or []
            picked = sum(len(s.get("items") or []) for s in sections if isinstance(s, dict))
            tally("answer.list_picker_multiple" if picked > 1 else "answer.list_picker")
        else:
            behaviour = ANSWERED.get(feature)
            if behaviour is not None:
                tally(behaviour)

    def on_request(self, event: RequestFailed) -> None:
        if event.provider != NAME or event.status is None or event.status < 400:
            return
        behaviour = next((b for code, b in BY_CODE.items() if code in event.body), None)
        if behaviour is None:
            behaviour = BY_STATUS.get(event.status)
        if behaviour is not None:
            business = next((v for k, v in event.headers if k.lower() == b"source-id"), b"")
            self.tally(behaviour, business.decode("latin-1"))

    def on_attempt(self, event: WebhookAttempted) -> None:
        if event.provider == NAME:
            for behaviour in webhook_behaviours(event):
                self.tally(behaviour, event.scope)
