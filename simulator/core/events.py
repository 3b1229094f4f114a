"""The simulation's event bus: providers, the journal, the outbox and the clock publish typed events; anyone
subscribes (the live stream behind the web UI, a provider's webhooks reacting to its own state changes).

Two kinds of subscriber:

* ``on(Kind, handler)``: ``await handler(tx, event)`` runs inside the transaction that publishes the event
  (``emit``), so what it writes commits or rolls back with the change itself (a webhook enqueued for a status).
* ``subscribe(Kind, handler)``: ``handler(event)`` runs once the change is committed (or at once for events that
  have no transaction, ``publish``). It must not block: the live stream only puts the event on a queue.

Events are frozen dataclasses. ``stream`` names the event on the live stream (``GET /_sim/events``) and
``stream_data()`` is what the stream shows of it; an event without a stream name is not streamed.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from simulator.core.store import Tx

log = logging.getLogger("simulator.events")


class Event:
    """Base of every event; subclasses are frozen dataclasses."""

    stream: ClassVar[str] = ""

    def stream_data(self) -> dict[str, Any]:
        return {}


E = TypeVar("E", bound=Event)
InTransaction = Callable[["Tx", Any], Awaitable[None]]
AfterCommit = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class RemoteEvent(Event):
    """An event another process of a fleet published (core/fleet.py), for the live stream only: what it counts
    (journal, coverage, metrics) that process counted already."""

    remote_stream: str
    data: dict[str, Any]

    def stream_data(self) -> dict[str, Any]:
        return self.data


class EventBus:
    """Dispatch by the event's exact class. Handlers are called in the order they subscribed."""

    def __init__(self) -> None:
        self._in_transaction: dict[type[Event], list[InTransaction]] = {}
        self._after_commit: dict[type[Event], list[AfterCommit]] = {}
        self._every: list[AfterCommit] = []  # after-commit subscribers of every event (the live stream)
        self.published = 0

    def on(self, kind: type[E], handler: Callable[[Tx, E], Awaitable[None]]) -> None:
        """Run ``handler(tx, event)`` inside the transaction of every ``kind`` event."""
        self._in_transaction.setdefault(kind, []).append(handler)

    def subscribe(self, kind: type[E] | None, handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler(event)`` after each ``kind`` event is committed (``None``: every event). Returns the
        function that unsubscribes."""
        handlers = self._every if kind is None else self._after_commit.setdefault(kind, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def listening(self, kind: type[Event]) -> bool:
        """Whether an after-commit subscriber would see a ``kind`` event: producers skip building what nobody reads."""
        return bool(self._every or self._after_commit.get(kind))

    async def emit(self, tx: Tx, event: Event) -> None:
        """Publish ``event`` from inside ``tx``: in-transaction handlers now, the others after the commit."""
        for handler in self._in_transaction.get(type(event), ()):
            await handler(tx, event)
        if self._every or self._after_commit.get(type(event)):
            tx.after_commit.append(lambda: self.publish(event))

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to its after-commit subscribers now (events outside any transaction, or committed)."""
        self.published += 1
        for handler in (*self._after_commit.get(type(event), ()), *self._every):
            try:
                handler(event)
            except Exception:  # a subscriber's bug must not fail the request that published
                log.exception("event subscriber failed on %s", type(event).__name__)


# -- the core's own events --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class JournalEntryAdded(Event):
    """A provider request, control mutation or webhook attempt was journaled."""

    stream: ClassVar[str] = "journal"
    seq: int
    kind: str
    provider: str | None

    def stream_data(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "provider": self.provider}


@dataclass(frozen=True, slots=True)
class WebhookAttempted(Event):
    """The outbox made one delivery attempt (recorded, whatever its outcome)."""

    stream: ClassVar[str] = "webhook"
    outbox_id: int
    provider: str
    event: str
    url: str
    attempt: int
    status_code: int | None
    error: str
    ok: bool
    at_ms: int
    scope: str = ""  # the workspace or business the delivery belongs to
    duplicate: bool = False  # the second copy the duplicateProbability knob sent
    reordered: bool = False  # held back by the reorder knob, so later events overtook it
    retry: bool = False  # a delivery again after an attempt that failed

    def stream_data(self) -> dict[str, Any]:
        return {"id": self.outbox_id, "event": self.event, "url": self.url, "attempt": self.attempt,
                "statusCode": self.status_code, "error": self.error, "ok": self.ok, "atMs": self.at_ms}


@dataclass(slots=True, eq=False)  # not frozen: built for every provider request, a frozen __init__ costs more
class RequestFailed(Event):
    """A provider request was answered with an error (4xx, 5xx) or its connection was dropped (``status`` None).
    Published by the middleware, outside any transaction; not streamed. Successes publish nothing: they are most
    requests, and what they did is told by the provider's own events. ``body`` is the start of the answer as the
    journal keeps it; ``headers`` are the request's, as ASGI gives them."""

    provider: str
    method: str
    operation: str | None
    status: int | None
    path_params: dict[str, Any]
    headers: list[tuple[bytes, bytes]]
    body: bytes | bytearray
    fault: str | None = None  # the fault rule that answered, if one did


@dataclass(frozen=True, slots=True)
class ClockMoved(Event):
    """An advance (or a full reset of a manual clock) moved the simulated time."""

    stream: ClassVar[str] = "clock"
    now_ms: int
    now: str
    mode: str

    def stream_data(self) -> dict[str, Any]:
        return {"now": self.now, "nowMs": self.now_ms, "mode": self.mode}


@dataclass(frozen=True, slots=True)
class WorldReset(Event):
    """The world was reset: everything (``scope`` empty) or one scope."""

    stream: ClassVar[str] = "reset"
    scope: tuple[tuple[str, str], ...]

    def stream_data(self) -> dict[str, Any]:
        return {"scope": dict(self.scope) or "all"}
